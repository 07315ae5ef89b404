import NIOCore
import NIOHTTP1

// Answers the gateway writes on its own behalf, and what the connection does after them
// (as the state machine decided).
extension ProxyHandler {
    /// Refuses a request before any exchange began (no route, a malformed head, …).
    /// `closing` marks answers after which nothing on the connection is trusted.
    func refuse(_ answer: GatewayAnswer, head: HTTPRequestHead, startedAt: NIODeadline, policy: AccessLogPolicy, closing: Bool) {
        let facts = RequestPlanner.refusalFacts(head)
        let decision = machine.headRefused(
            hasBody: facts.hasBody, keepAlive: head.isKeepAlive, endsParsing: facts.endsParsing, malformed: closing
        )
        let written = respond(with: answer, version: head.version, keepAlive: decision.keepAlive, method: head.method) { bodyBytes in
            recordRefusal(answer, head: head, startedAt: startedAt, policy: policy, bytesOut: bodyBytes)
        }
        carryOut(decision.after, after: written.future)
    }

    /// The gateway refuses the exchange in flight (during admission, or when forwarding
    /// cannot go on): the machine decides what follows the answer.
    func refuseExchange(_ answer: GatewayAnswer) {
        settle(machine.fail(), with: answer)
    }

    /// Carries out the machine's decision when forwarding cannot go on: a JSON error on the
    /// upstream's behalf, or a close when a response is already streaming.
    func settle(_ failure: ConnectionStateMachine.Failure, with answer: GatewayAnswer) {
        guard let exchange else { return }
        exchange.upstream?.close()
        exchange.upstream = nil
        switch failure {
        case .ignore:
            return
        case .close:
            record(exchange, status: exchange.responseStatus ?? Int(answer.status.code), error: answer.code)
            carryOut(.close, after: nil)
        case .answer(let decision):
            let written = respond(with: answer, version: exchange.clientVersion, keepAlive: decision.keepAlive, method: exchange.method) { bodyBytes in
                record(exchange, status: Int(answer.status.code), bytesOut: bodyBytes, error: answer.code)
            }
            carryOut(decision.after, after: written.future)
        }
    }

    /// A response the gateway wrote: when its last byte is out, and its body size.
    struct Written {
        var future: EventLoopFuture<Void>?
        var bodyBytes: Int
    }

    /// Writes a complete answer of the gateway's own, rendered as every listener renders
    /// them (`RenderedAnswer`: `Connection: close` unless `keepAlive`, the head alone to a
    /// `HEAD` or `CONNECT`). `recording` gets the body size and runs before anything is
    /// flushed, so the access log and metrics have the request before the client has the
    /// answer.
    func respond(with answer: GatewayAnswer, version: HTTPVersion, keepAlive: Bool, method: HTTPMethod = .GET, recording: (Int) -> Void = { _ in }) -> Written {
        guard let context else { return Written(future: nil, bodyBytes: 0) }
        let allocator = context.channel.allocator
        let rendered = answer.rendered(version: version, keepAlive: keepAlive, method: method, allocator: allocator)
        // The gateway's own fields are always valid; should one not be, nothing is sent.
        guard let head = rendered.headBytes(allocator: allocator) else {
            context.close(promise: nil)
            return Written(future: nil, bodyBytes: 0)
        }
        let bodyBytes = rendered.body.readableBytes
        let written = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(head), promise: bodyBytes > 0 ? nil : written)
        if bodyBytes > 0 { context.write(wrapOutboundOut(rendered.body), promise: written) }
        recording(bodyBytes)
        context.flush()
        return Written(future: written.futureResult, bodyBytes: bodyBytes)
    }

    /// Does what follows an exchange's last response bytes (`written`, when known).
    func carryOut(_ after: ConnectionStateMachine.AfterAnswer, after written: EventLoopFuture<Void>?) {
        guard let context else { return }
        switch after {
        case .nextRequest:
            exchange = nil
            exchangeTimer?.clear()
            headTimer.awaitingRequest()
            drainQueue()
        case .discardRest:
            exchange = nil
            exchangeTimer?.clear()
            resumeClientReads()
        case .close:
            exchange = nil
            exchangeTimer?.clear()
            queue.removeAll()
            // A client that stops reading must not hold the socket: the last bytes get as
            // long as the connection may idle, then it closes regardless.
            BoundedClose.close(context.channel, after: written, within: headTimer.idleTimeout)
        case .lingerThenClose:
            // Only our side is shut at first and the rest of the request is read and
            // dropped for a moment (bounded in time and bytes), so the client reads the
            // response rather than a connection reset: nginx's lingering close.
            exchange = nil
            exchangeTimer?.clear()
            queue.removeAll()
            BoundedClose.close(context.channel, mode: .output, after: written, within: Self.lingerTime)
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { [weak self] in
                guard let self, let context = self.context else { return }
                context.close(promise: nil)
            }
            resumeClientReads()
        }
    }

    /// Drops the exchange because the client is gone (logged as nginx's 499, "client
    /// closed request") or sent something that cannot be forwarded (`code`, logged with
    /// its status unless a response had begun).
    func abandonExchange(_ code: AnswerCode = .clientClosed) {
        guard let exchange else { return }
        exchange.upstream?.close()
        exchange.upstream = nil
        self.exchange = nil
        record(exchange, status: exchange.responseStatus ?? Int(truncatingIfNeeded: code.status.code), error: code)
    }
}
