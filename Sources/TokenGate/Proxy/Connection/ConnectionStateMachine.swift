import NIOCore

/// The life of one client connection, as a value: events in, one `Action` out.
///
/// It owns every fact that decides what happens next on a connection, and nobody else can
/// set them: which request is being served and how far it has got in each direction,
/// whether the client may be read, how many pipelined requests wait, whether the
/// connection ends after this exchange, whether an upstream 401 or a dead pooled
/// connection is retried, whether a 101 becomes a tunnel, and which deadline applies now
/// with its instant (`ConnectionDeadlines`). `ProxyHandler` feeds it events with the facts
/// it has (a request part, an answer from the control plane, an upstream event, the
/// timer, writability, the clock) and carries out the returned action through one
/// `run(_:with:)`. Modelled on AsyncHTTPClient's `HTTP1ConnectionStateMachine` and our
/// `TokenState`, and tested event by event without sockets.
///
/// Invariants it keeps:
/// - a request head is taken only while the client is writable, so a client that sends
///   requests and never reads the answers stops being read (no unbounded output buffer);
/// - at most `maxQueuedRequests` pipelined requests wait; past that the excess is dropped
///   and the connection closes after the queued ones are answered (RFC 9112 §9.3.2 lets a
///   client retry requests a closed connection did not answer);
/// - a request body is read only while the upstream can take it;
/// - after a request that ends HTTP parsing (an upgrade), the client is not read again
///   until the upstream has switched protocols; any other answer closes the connection;
/// - each attempt (the first, a 401 retry, a retry on a new connection) starts from the
///   same reset, decided here once.
struct ConnectionStateMachine {
    static let defaultMaxQueuedRequests = 128
    /// Lingering close: the most bytes dropped before closing anyway (nginx's `lingering_time` has a byte cap too).
    static let lingerBytes = 1 << 20

    let maxQueuedRequests: Int

    private var state = State.idle
    private var deadlines: ConnectionDeadlines
    /// Request heads waiting behind the current exchange (the handler holds their parts).
    private var queued = 0
    /// More requests arrived than may queue: the excess is dropped and the connection
    /// closes once the queued ones are answered.
    private var queueOverflowed = false
    /// Close after the current exchange (shutdown, a retired listener, a protocol error).
    private var closing = false
    /// A request ended HTTP parsing: the client cannot send another.
    private var parsingEnded = false
    private var clientWritable = true
    private var upstreamWritable = true
    /// A read was asked for while reading was not allowed.
    private var readPending = false

    /// `headTimeout` and `keepAliveTimeout` are the listener's; `acceptedAt` is when the
    /// connection was accepted, on its event loop's clock (the first head is due from then).
    init(maxQueuedRequests: Int = Self.defaultMaxQueuedRequests, headTimeout: TimeAmount = .seconds(10),
         keepAliveTimeout: TimeAmount = .seconds(60), acceptedAt: NIODeadline = .uptimeNanoseconds(0)) {
        self.maxQueuedRequests = maxQueuedRequests
        self.deadlines = ConnectionDeadlines(headTimeout: headTimeout, keepAliveTimeout: keepAliveTimeout, acceptedAt: acceptedAt)
    }

    // MARK: What the handler may know

    /// Where the connection stands (read-only: only events move it).
    var current: State { state }

    /// The exchange being served, if one is.
    var request: Request? {
        if case .serving(let request) = state { return request }
        return nil
    }

    /// Request heads waiting behind the current exchange.
    var queuedRequests: Int { queued }

    /// The connection ends after the current exchange (or the queued ones).
    var closeAfterExchange: Bool { closing }

    /// How long a closing answer's last bytes may wait for a client that does not read them.
    var closingGrace: TimeAmount { deadlines.keepAliveTimeout }

    /// Whether the exchange being served is the connection's last: after a quiesce at
    /// once; after an overflow or garbage behind the queue, once the queue is served.
    var closesAfterThisExchange: Bool {
        closing && (!queueOverflowed || queued == 0)
    }

    /// Whether the current request waits for its admission (validation, credential).
    var isAdmitting: Bool {
        if case .serving(let request) = state { return request.stage == .admitting }
        return false
    }

    /// Whether the current request's body has fully arrived.
    var requestEnded: Bool {
        if case .serving(let request) = state { return request.ended }
        return false
    }

    /// Whether the client may be read now.
    var mayReadClient: Bool {
        switch state {
        case .closed, .tunnel: return false
        case .lingering: return true
        case .discarding: return queued == 0
        case .idle: return queued == 0 && clientWritable && !parsingEnded
        case .serving(let request):
            if queued > 0 { return false }
            if request.ended {
                // Reading on lets a client that leaves be noticed; nothing can follow an upgrade.
                return !request.facts.endsParsing
            }
            return (request.stage == .forwarding && upstreamWritable) || (request.stage == .admitting && request.gatewayReadsBody)
        }
    }

    /// Which deadline applies now, if any.
    var wait: Wait? {
        switch state {
        case .idle:
            return deadlines.headStartedAt != nil ? .head : .keepAlive
        case .serving(let request):
            switch request.stage {
            case .admitting: return .admission
            case .connecting: return nil  // the pool's connect timeout bounds it
            case .forwarding:
                if request.sent && request.response == .none { return .responseHead }
                return .idle
            }
        case .discarding, .tunnel, .lingering, .closed:
            return nil
        }
    }

    /// The instant the current wait ends; nil when nothing is waited for.
    var deadline: NIODeadline? {
        wait.map { deadlines.deadline(for: $0) }
    }

    /// Whether the first bytes of a new head are awaited (then `headBytesArrived(at:)` is due).
    var awaitsHeadBytes: Bool {
        if case .idle = state { return deadlines.headStartedAt == nil }
        return false
    }

    /// When the head being read began, if one is (the 408's access-log entry counts from it).
    var headStartedAt: NIODeadline? { deadlines.headStartedAt }

    /// The connection was accepted at `now`: its first request head is due promptly.
    mutating func accepted(at now: NIODeadline) -> Action {
        deadlines = ConnectionDeadlines(headTimeout: deadlines.headTimeout, keepAliveTimeout: deadlines.keepAliveTimeout, acceptedAt: now)
        return .armTimer
    }

    // MARK: Reading and queueing

    /// The channel asked to read: `.read` to read now, else the read is held for later.
    mutating func readRequested() -> Action {
        if mayReadClient { return .read }
        readPending = true
        return .none
    }

    /// `.read` when a held read should be issued now (after any event that may allow it).
    mutating func resumeRead() -> Action {
        guard readPending, mayReadClient else { return .none }
        readPending = false
        return .read
    }

    /// The first bytes of a new request head arrived (the connection was waiting for one):
    /// from now the head timeout applies, not the keep-alive one.
    mutating func headBytesArrived(at now: NIODeadline) -> Action {
        guard awaitsHeadBytes else { return .none }
        deadlines.headStartedAt = now
        return .armTimer
    }

    /// A request part arrived from the client. `isHead` marks a new request's head;
    /// `bytes` is a body part's size. `.none` drops it (over the queue limit, after a
    /// closing answer, or while lingering).
    mutating func partArrived(isHead: Bool, bytes: Int = 0) -> Action {
        switch state {
        case .closed, .tunnel:
            return .none
        case .lingering(let dropped):
            let total = dropped + bytes
            if total > Self.lingerBytes || isHead {
                state = .closed
                return .close
            }
            state = .lingering(bytes: total)
            return .none
        case .idle, .serving, .discarding:
            break
        }
        if queueOverflowed { return .none }
        if queued > 0 {
            return enqueue(isHead: isHead)
        }
        if isHead ? mayStartRequest : currentTakesParts { return .takePart }
        return enqueue(isHead: isHead)
    }

    private mutating func enqueue(isHead: Bool) -> Action {
        guard isHead else { return .enqueuePart }
        guard queued < maxQueuedRequests else {
            queueOverflowed = true
            closing = true
            return .none
        }
        queued += 1
        return .enqueuePart
    }

    /// Whether the handler may hand the next queued part over (`.takePart`, counted out);
    /// `isHead` says what it is.
    mutating func takeQueued(isHead: Bool) -> Action {
        if isHead {
            guard mayStartRequest else { return .none }
            queued -= 1
            return .takePart
        }
        return currentTakesParts ? .takePart : .none
    }

    /// Whether the current request still takes parts (its body and end).
    private var currentTakesParts: Bool {
        switch state {
        case .discarding: return true
        case .serving(let request): return !request.ended
        case .idle, .tunnel, .lingering, .closed: return false
        }
    }

    /// Whether a new request head may be taken now.
    private var mayStartRequest: Bool {
        if case .idle = state { return clientWritable }
        return false
    }

    /// The client's side of the connection has room again, or no longer has.
    mutating func clientWritabilityChanged(_ writable: Bool) {
        clientWritable = writable
    }

    /// The upstream connection has room again, or no longer has: `.read` if a held client
    /// read may go now.
    mutating func upstreamWritabilityChanged(_ writable: Bool) -> Action {
        upstreamWritable = writable
        return resumeRead()
    }

    /// The gateway answers this request itself and needs its body: reads go on while
    /// admitting, and the body (held meanwhile) may be at most `limit` bytes, the route's
    /// limit if that is smaller.
    mutating func gatewayReadsBody(limit: Int) {
        guard case .serving(var request) = state else { return }
        request.gatewayReadsBody = true
        request.facts.maxBodyBytes = min(request.facts.maxBodyBytes, limit)
        state = .serving(request)
    }

    // MARK: The request

    /// The planner refused a head before any exchange began (no route, a bad head, …).
    /// `malformed` means nothing later on this connection can be trusted.
    mutating func headRefused(hasBody: Bool, keepAlive: Bool, endsParsing: Bool, malformed: Bool) -> Action {
        deadlines.headStartedAt = nil
        if endsParsing { parsingEnded = true }
        // A body the gateway will not read is not drained: its framing may be what was
        // wrong, and draining costs bandwidth for nothing.
        let keep = keepAlive && !hasBody && !malformed && !endsParsing && !closesAfterThisExchange
        if keep {
            state = .discarding
            return .refuseHead(Answer(keepAlive: true, after: .discardRest))
        }
        return .refuseHead(closingAnswer(requestComplete: !hasBody))
    }

    /// The planner accepted a head, complete at `now`: the request is admitted next
    /// (validation, credential). The admission deadline is armed only if admission has to
    /// wait (the timer still points at an earlier deadline and asks again when it fires).
    mutating func headAccepted(_ facts: RequestFacts, at now: NIODeadline) {
        if facts.endsParsing { parsingEnded = true }
        deadlines.requestStarted(facts, at: now)
        state = .serving(Request(facts: facts, keepAlive: facts.keepAlive && !facts.endsParsing))
    }

    /// A part of the request body (`bytes` long) arrived at `now`.
    mutating func bodyArrived(bytes: Int, at now: NIODeadline) -> Action {
        guard case .serving(var request) = state else { return .none }
        request.bodyBytes += bytes
        if request.bodyBytes > request.facts.maxBodyBytes {
            state = .serving(request)
            let limit = request.facts.maxBodyBytes
            return .refuseBodyTooLarge(fail(), limit: limit)
        }
        state = .serving(request)
        guard request.stage == .forwarding else { return .holdBody }
        deadlines.lastActivity = now
        return .forwardBody
    }

    /// The request's end arrived at `now`.
    mutating func endArrived(at now: NIODeadline) -> Action {
        switch state {
        case .discarding:
            state = .idle
            return .nextRequest
        case .serving(var request):
            request.ended = true
            if request.stage == .forwarding {
                request.sent = true
                deadlines.requestSentAt = now
                deadlines.lastActivity = now
                state = .serving(request)
                return .forwardEnd
            }
            state = .serving(request)
            return .requestEndHeld
        case .idle, .tunnel, .lingering, .closed:
            return .none
        }
    }

    /// Validation and the credential are settled: connect, after a `100 Continue` when the
    /// client waits for one (only now, so nothing reaches an upstream, nor the client's
    /// body us, before admission).
    mutating func admitted() -> Action {
        guard case .serving(var request) = state, request.stage == .admitting else { return .none }
        request.stage = .connecting
        let sendContinue = request.facts.expectsContinue && !request.ended && !request.continueSent
        if sendContinue { request.continueSent = true }
        state = .serving(request)
        return .connect(sendContinue: sendContinue)
    }

    /// The gateway refuses the request in flight (401, 403, 503, … during admission, or
    /// forwarding cannot go on).
    mutating func refuse() -> Action {
        .refuse(fail())
    }

    /// What follows a refusal of the exchange in flight.
    private mutating func fail() -> Failure {
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
    private mutating func closingAnswer(requestComplete: Bool) -> Answer {
        if requestComplete || parsingEnded {
            state = .closed
            return Answer(keepAlive: false, after: .close)
        }
        state = .lingering(bytes: 0)
        return Answer(keepAlive: false, after: .lingerThenClose)
    }

    /// An exchange's last bytes are out and the connection stays: it waits for the next
    /// request from `now` (the keep-alive timeout).
    mutating func awaitingRequest(since now: NIODeadline) -> Action {
        guard case .idle = state else { return .none }
        deadlines.waitingSince = now
        deadlines.headStartedAt = nil
        return .armTimer
    }

    // MARK: Deadlines and the connection

    /// The connection's timer fired at `now`: the current wait times out if its deadline
    /// has really passed; otherwise the timer is pointed at it again.
    mutating func deadlinePassed(at now: NIODeadline) -> Action {
        guard let wait else { return .none }
        if deadlines.deadline(for: wait) > now { return .armTimer }
        switch wait {
        case .keepAlive:
            state = .closed
            return .close
        case .head:
            state = .closed
            return .requestTimeout
        case .admission, .responseHead, .idle:
            return .timedOut(wait, fail())
        }
    }

    /// Shutdown, or the listener this connection was accepted on is gone: finish the
    /// exchange in flight, take no new one (`.close`: nothing is in flight).
    mutating func quiesce() -> Action {
        closing = true
        if case .idle = state, queued == 0 {
            state = .closed
            return .close
        }
        return .none
    }

    /// The client connection closed: an exchange in flight is abandoned.
    mutating func clientClosed() -> Action {
        let wasServing = request != nil
        state = .closed
        return wasServing ? .abandon(malformed: false) : .none
    }

    /// The HTTP decoder failed. `connectionActive` is false when the channel already closed.
    /// `.refuseMalformed`: answer 400 (or 431) and close; `.abandonAndClose`: the request
    /// being forwarded is malformed; `.none`: garbage behind requests already taken, which
    /// are finished first; `.close`: nobody is left to answer.
    mutating func parserError(connectionActive: Bool) -> Action {
        if queued > 0, connectionActive, state != .closed {
            closing = true
            queueOverflowed = true
            return .none
        }
        switch state {
        case .idle:
            state = .closed
            return connectionActive ? .refuseMalformed : .close
        case .serving(let request):
            if !request.ended {
                state = .closed
                return .abandonAndClose
            }
            closing = true
            queueOverflowed = true
            return .none
        case .discarding, .lingering, .tunnel, .closed:
            state = .closed
            return .close
        }
    }

    // MARK: The upstream

    /// An upstream connection is ready for the current request at `now`; `reused` when it
    /// came from the pool.
    mutating func upstreamConnected(reused: Bool, at now: NIODeadline) -> Action {
        guard case .serving(var request) = state, request.stage == .connecting else { return .releaseConnection }
        request.stage = .forwarding
        request.reusedConnection = reused
        request.sent = request.ended
        upstreamWritable = true
        deadlines.lastActivity = now
        if request.ended { deadlines.requestSentAt = now }
        state = .serving(request)
        return .send(end: request.ended)
    }

    /// The upstream's response head arrived at `now`. `upgradeCompleted`: a `101` completes
    /// the WebSocket handshake the request asked for (any other `101` is refused, never a
    /// tunnel). `retry`: what the handler knows of sending the request again after a 401;
    /// the machine asks for the profile's verdict (`.judgeUnauthorized`) only for the
    /// first 401 of a request fully sent, with a credential injected and its body kept.
    mutating func responseHead(status: Int, upgradeCompleted: Bool = false, retry: RetryFacts = .none, at now: NIODeadline) -> Action {
        guard case .serving(var request) = state, request.stage == .forwarding else { return .refuse(.ignore) }
        deadlines.lastActivity = now
        if status == 401, request.credentialRetries == 0, request.ended,
           retry.injectsCredential, retry.bodyKept, retry.tokenInjected {
            request.response = .judgingUnauthorized
            state = .serving(request)
            return .judgeUnauthorized
        }
        return passOn(status: status, upgradeCompleted: upgradeCompleted)
    }

    /// The credential profile's verdict on the upstream's 401: `retry` when it blames the
    /// token (and not too often), so the 401 is dropped and the request sent again.
    mutating func unauthorizedJudged(retry: Bool) -> Action {
        guard case .serving(var request) = state, request.response == .judgingUnauthorized else { return .refuse(.ignore) }
        guard retry else { return passOn(status: 401, upgradeCompleted: false) }
        request.response = .discardingUnauthorized
        state = .serving(request)
        return .discardResponseHead
    }

    private mutating func passOn(status: Int, upgradeCompleted: Bool) -> Action {
        guard case .serving(var request) = state else { return .refuse(.ignore) }
        if status == 101 {
            guard request.facts.mayUpgrade, request.ended, upgradeCompleted else { return .refuseSwitchingProtocols(fail()) }
            state = .tunnel
            return .switchProtocols
        }
        request.response = .streaming
        // A response before the request body is complete ends the connection: the rest of
        // that body has nowhere to go. So does a shutdown in progress.
        if !request.ended || closesAfterThisExchange { request.keepAlive = false }
        state = .serving(request)
        return .forwardResponseHead(keepAlive: request.keepAlive)
    }

    /// The response cannot be delimited except by closing (an HTTP/1.0 client and a body
    /// of unknown length).
    mutating func responseDelimitedByClose() {
        guard case .serving(var request) = state else { return }
        request.keepAlive = false
        state = .serving(request)
    }

    /// A response body part arrived at `now`: passed on, or dropped while a 401 is.
    mutating func responseBodyArrived(at now: NIODeadline) -> Action {
        guard case .serving(let request) = state else { return .none }
        deadlines.lastActivity = now
        return request.response == .streaming ? .forwardResponseBody : .none
    }

    /// The response is complete; `reusable`: the upstream connection may serve another.
    mutating func responseEnd(reusable: Bool) -> Action {
        if case .tunnel = state { return .startTunnel }
        guard case .serving(var request) = state else { return .none }
        let reuse = reusable && request.sent
        if request.response == .discardingUnauthorized {
            request.credentialRetries += 1
            beginAttempt(&request, at: .admitting)
            state = .serving(request)
            return .retryWithFreshToken(reuseConnection: reuse)
        }
        if request.keepAlive && !closesAfterThisExchange {
            state = .idle
            return .finish(reuseConnection: reuse, after: .nextRequest)
        }
        let answer = closingAnswer(requestComplete: request.ended)
        return .finish(reuseConnection: reuse, after: answer.after)
    }

    /// The upstream connection failed or closed before the response was complete.
    mutating func upstreamFailed() -> Action {
        guard case .serving(var request) = state, request.stage == .forwarding else { return .refuse(.ignore) }
        if request.response != .streaming, request.connectionRetries == 0, request.reusedConnection,
           request.facts.replayable, request.ended {
            request.connectionRetries += 1
            beginAttempt(&request, at: .connecting)
            state = .serving(request)
            return .retryOnNewConnection
        }
        return .refuse(fail())
    }

    /// The one per-attempt reset: nothing of the request has gone anywhere yet, no
    /// response is in, and the attempt starts at `stage`. (`Exchange.beginAttempt()` is
    /// its counterpart for the data.)
    private mutating func beginAttempt(_ request: inout Request, at stage: Stage) {
        request.response = .none
        request.stage = stage
        request.sent = false
        deadlines.requestSentAt = nil
    }
}
