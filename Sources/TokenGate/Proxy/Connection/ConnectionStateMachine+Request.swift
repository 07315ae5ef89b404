// Request and connection events of the connection's state machine: a head accepted or
// refused, the body and its end, admission, failures and deadlines, quiesce, the client
// leaving and parser errors.
extension ConnectionStateMachine {

    /// The planner refused a head before any exchange began (no route, a bad head, …).
    /// `malformed` means nothing later on this connection can be trusted.
    mutating func headRefused(hasBody: Bool, keepAlive: Bool, endsParsing: Bool, malformed: Bool) -> Answer {
        if endsParsing { parsingEnded = true }
        // A body the gateway will not read is not drained: its framing may be what was
        // wrong, and draining costs bandwidth for nothing.
        let keep = keepAlive && !hasBody && !malformed && !endsParsing && !closesAfterThisExchange
        if keep {
            state = .discarding
            return Answer(keepAlive: true, after: .discardRest)
        }
        return closingAnswer(requestComplete: !hasBody)
    }

    /// The planner accepted a head: the request is admitted next (validation, credential).
    mutating func headAccepted(_ facts: RequestFacts) {
        if facts.endsParsing { parsingEnded = true }
        state = .serving(Request(facts: facts, keepAlive: facts.keepAlive && !facts.endsParsing))
    }

    enum BodyAction: Equatable {
        /// Write it to the upstream.
        case forward
        /// Keep it until the upstream connection is ready.
        case hold
        case drop
        /// The body outgrew its limit (`max_body_bytes`, or less for a body the gateway reads).
        case tooLarge(Failure, limit: Int)
    }

    mutating func bodyArrived(bytes: Int) -> BodyAction {
        guard case .serving(var request) = state else { return .drop }
        request.bodyBytes += bytes
        if request.bodyBytes > request.facts.maxBodyBytes {
            state = .serving(request)
            let limit = request.facts.maxBodyBytes
            return .tooLarge(fail(), limit: limit)
        }
        state = .serving(request)
        return request.stage == .forwarding ? .forward : .hold
    }

    enum EndAction: Equatable {
        /// Write the end upstream: the request is fully sent.
        case forwardEnd
        /// Remember it; the upstream connection is not there yet.
        case hold
        /// A discarded request is over: serve the next one.
        case nextRequest
        case none
    }

    mutating func endArrived() -> EndAction {
        switch state {
        case .discarding:
            state = .idle
            return .nextRequest
        case .serving(var request):
            request.ended = true
            if request.stage == .forwarding {
                request.sent = true
                state = .serving(request)
                return .forwardEnd
            }
            state = .serving(request)
            return .hold
        case .idle, .tunnel, .lingering, .closed:
            return .none
        }
    }

    /// Validation and the credential are settled: connect. True when a `100 Continue`
    /// should go to the client first (only now, so nothing reaches an upstream, nor the
    /// client's body us, before admission).
    mutating func admitted() -> (connect: Bool, sendContinue: Bool) {
        guard case .serving(var request) = state, request.stage == .admitting else { return (false, false) }
        request.stage = .connecting
        let sendContinue = request.facts.expectsContinue && !request.ended && !request.continueSent
        if sendContinue { request.continueSent = true }
        state = .serving(request)
        return (true, sendContinue)
    }

    /// The gateway refuses the request during admission (401, 403, 503, …) or cannot go on.
    mutating func fail() -> Failure {
        guard case .serving(let request) = state else { return .ignore }
        if request.response == .streaming {
            state = .closed
            return .close
        }
        let requestDone = request.ended || !request.facts.hasBody
        let keep = request.keepAlive && requestDone && !closesAfterThisExchange
        guard keep else { return .answer(closingAnswer(requestComplete: request.ended)) }
        if request.ended {
            state = .idle
            return .answer(Answer(keepAlive: true, after: .nextRequest))
        }
        state = .discarding
        return .answer(Answer(keepAlive: true, after: .discardRest))
    }

    /// An answer that closes the connection: lingering if the client may still be sending.
    mutating func closingAnswer(requestComplete: Bool) -> Answer {
        if requestComplete || parsingEnded {
            state = .closed
            return Answer(keepAlive: false, after: .close)
        }
        state = .lingering(bytes: 0)
        return Answer(keepAlive: false, after: .lingerThenClose)
    }

    /// Which deadline applies now, if any.
    var wait: Wait? {
        guard case .serving(let request) = state else { return nil }
        switch request.stage {
        case .admitting: return .admission
        case .connecting: return nil  // the pool's connect timeout bounds it
        case .forwarding:
            if request.sent && request.response == .none { return .responseHead }
            return .idle
        }
    }

    // MARK: Connection events

    enum QuiesceAction: Equatable { case closeNow, afterExchange }

    /// Shutdown, or the listener this connection was accepted on is gone: finish the
    /// exchange in flight, take no new one.
    mutating func quiesce() -> QuiesceAction {
        closeAfterExchange = true
        if case .idle = state, queuedRequests == 0 {
            state = .closed
            return .closeNow
        }
        return .afterExchange
    }

    /// The client connection closed. True when an exchange was in flight (it is abandoned).
    mutating func clientClosed() -> Bool {
        let wasServing = request != nil
        state = .closed
        return wasServing
    }

    enum ParserErrorAction: Equatable {
        /// A malformed head with no exchange in flight: answer 400 (or 431) and close.
        case answer
        /// The request being forwarded is malformed: abandon it and close at once.
        case abandonAndClose
        /// Garbage behind requests already taken: finish them, then close.
        case closeAfterExchange
        /// Close without a word (already answered, or nobody is left to answer).
        case close
    }

    /// The HTTP decoder failed. `connectionActive` is false when the channel already closed.
    mutating func parserError(connectionActive: Bool) -> ParserErrorAction {
        if queuedRequests > 0, connectionActive, state != .closed {
            closeAfterExchange = true
            queueOverflowed = true
            return .closeAfterExchange
        }
        switch state {
        case .idle:
            state = .closed
            return connectionActive ? .answer : .close
        case .serving(let request):
            if !request.ended {
                state = .closed
                return .abandonAndClose
            }
            closeAfterExchange = true
            queueOverflowed = true
            return .closeAfterExchange
        case .discarding, .lingering, .tunnel, .closed:
            state = .closed
            return .close
        }
    }
}
