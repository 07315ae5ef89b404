import NIOCore
import NIOHTTP1

// The executor's steps for answers the gateway writes on its own behalf, and for what the
// connection does after an exchange's last bytes (as the state machine decided). Called
// from `run(_:with:)` only.
extension ProxyHandler {
    /// Refusing the exchange in flight: a JSON error on the upstream's behalf, or a close
    /// when a response is already streaming.
    func settle(_ failure: ConnectionStateMachine.Failure, with answer: GatewayAnswer) {
        guard let exchange else { return }
        exchange.upstream?.close()
        exchange.upstream = nil
        switch failure {
        case .ignore:
            return
        case .close:
            record(exchange, status: exchange.responseStatus ?? Int(answer.status.code), error: answer.code)
            afterAnswer(.close, written: nil)
        case .answer(let decision):
            let written = respond(with: answer, version: exchange.clientVersion, keepAlive: decision.keepAlive, method: exchange.method,
                                  grpc: exchange.isGRPC) { bodyBytes in
                record(exchange, status: Int(answer.status.code), bytesOut: bodyBytes, error: answer.code)
            }
            afterAnswer(decision.after, written: written.future)
        }
    }

    /// Answering a request refused before any exchange began (`data` has the answer).
    func answerRefusal(_ decision: ConnectionStateMachine.Answer, with data: EventData) {
        guard case .refusal(let answer, let head, let startedAt, let policy) = data else { return }
        let grpc = servesHTTP2Stream && head.map { GRPCAnswer.isGRPC($0.headers) } == true
        let written = respond(with: answer, version: head?.version ?? .http1_1, keepAlive: decision.keepAlive, method: head?.method ?? .GET,
                              grpc: grpc) { bodyBytes in
            recordRefusal(answer, head: head, startedAt: startedAt, policy: policy, bytesOut: bodyBytes)
        }
        afterAnswer(decision.after, written: written.future)
    }

    /// A request head did not arrive in time: a 408, then the connection closes (within
    /// the keep-alive timeout, should the client not read it).
    func answerRequestTimeout() {
        guard let context else { return }
        timer?.clear()
        if servesHTTP2Stream {
            // A stream's head waited (its connection was not writable): a 408 as frames.
            let answer = GatewayAnswer(.requestTimeout)
            let written = respond(with: answer, version: .http2, keepAlive: false) { bodyBytes in
                environment.recordRefusal(
                    answer, head: nil, startedAt: machine.headStartedAt ?? context.eventLoop.now, bytesOut: bodyBytes,
                    clientAddress: peerText, eventLoop: context.eventLoop
                )
            }
            BoundedClose.close(context.channel, after: written.future, within: machine.closingGrace)
            return
        }
        guard let answer = RequestTimeoutAnswer.bytes(allocator: context.channel.allocator) else {
            context.close(promise: nil)
            return
        }
        environment.recordRefusal(
            GatewayAnswer(.requestTimeout), head: nil, startedAt: machine.headStartedAt ?? context.eventLoop.now, bytesOut: answer.bodyBytes,
            clientAddress: peerText, eventLoop: context.eventLoop
        )
        BoundedClose.close(context.channel, after: context.writeAndFlush(wrapOutboundOut(answer.bytes)), within: machine.closingGrace)
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
    func respond(with answer: GatewayAnswer, version: HTTPVersion, keepAlive: Bool, method: HTTPMethod = .GET, grpc: Bool = false,
                 recording: (Int) -> Void = { _ in }) -> Written {
        guard let context else { return Written(future: nil, bodyBytes: 0) }
        let allocator = context.channel.allocator
        if grpc && servesHTTP2Stream {
            // A gRPC client's answer: the status in the one HEADERS frame, no body.
            let written = context.eventLoop.makePromise(of: Void.self)
            context.write(NIOAny(HTTPServerResponsePart.head(GRPCAnswer.head(for: answer))), promise: nil)
            context.write(NIOAny(HTTPServerResponsePart.end(nil)), promise: written)
            recording(0)
            context.flush()
            return Written(future: written.futureResult, bodyBytes: 0)
        }
        let rendered = answer.rendered(version: version, keepAlive: keepAlive, method: method, allocator: allocator)
        // The gateway's own fields are always valid; should one not be, nothing is sent.
        guard let head = rendered.headBytes(allocator: allocator) else {
            context.close(promise: nil)
            return Written(future: nil, bodyBytes: 0)
        }
        if servesHTTP2Stream {
            // The stream's codec drops HTTP/1's connection fields (`Connection: close`).
            let bodyBytes = rendered.body.readableBytes
            let written = context.eventLoop.makePromise(of: Void.self)
            context.write(NIOAny(HTTPServerResponsePart.head(rendered.head)), promise: nil)
            if bodyBytes > 0 { context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(rendered.body))), promise: nil) }
            context.write(NIOAny(HTTPServerResponsePart.end(nil)), promise: written)
            recording(bodyBytes)
            context.flush()
            return Written(future: written.futureResult, bodyBytes: bodyBytes)
        }
        let bodyBytes = rendered.body.readableBytes
        let written = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(head), promise: bodyBytes > 0 ? nil : written)
        if bodyBytes > 0 { context.write(wrapOutboundOut(rendered.body), promise: written) }
        recording(bodyBytes)
        context.flush()
        return Written(future: written.futureResult, bodyBytes: bodyBytes)
    }

    /// What follows an exchange's last response bytes (`written`, when known).
    func afterAnswer(_ after: ConnectionStateMachine.AfterAnswer, written: EventLoopFuture<Void>?) {
        guard let context else { return }
        switch after {
        case .nextRequest:
            exchange = nil
            let now = context.eventLoop.now
            run(machine.awaitingRequest(since: now))
            drainQueue()
            idleSince = now
            restDecoderIfIdle()
        case .discardRest:
            exchange = nil
            armTimer()
            resumeClientReads()
        case .close:
            exchange = nil
            timer?.clear()
            queue = nil
            // A client that stops reading must not hold the socket: the last bytes get as
            // long as the connection may idle, then it closes regardless.
            BoundedClose.close(context.channel, after: written, within: machine.closingGrace)
        case .lingerThenClose where servesHTTP2Stream:
            // A stream has no half to shut: once the answer is out, closing it resets the
            // rest of the request (RST_STREAM), which is HTTP/2's way of saying "stop sending".
            exchange = nil
            timer?.clear()
            queue = nil
            BoundedClose.close(context.channel, after: written, within: machine.closingGrace)
        case .lingerThenClose:
            // Only our side is shut at first and the rest of the request is read and
            // dropped for a moment (bounded in time and bytes), so the client reads the
            // response rather than a connection reset: nginx's lingering close.
            exchange = nil
            timer?.clear()
            queue = nil
            BoundedClose.close(context.channel, mode: .output, after: written, within: Self.lingerTime)
            context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { [weak self] in
                guard let self, let context = self.context else { return }
                context.close(promise: nil)
            }
            resumeClientReads()
        }
    }

    /// Gives the exchange's upstream connection back to the pool (`reuse`) or closes it.
    func giveBack(_ exchange: Exchange, reuse: Bool) {
        guard let upstream = exchange.upstream else { return }
        exchange.upstream = nil
        if reuse { pool?.release(upstream) } else { upstream.close() }
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
