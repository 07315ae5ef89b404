import NIOCore
import NIOHTTP1

// The executor: every action of the connection's state machine is carried out here, and
// nowhere else (AsyncHTTPClient's `HTTP1ClientChannelHandler.run(_:context:)`). It does
// I/O and moves data; what to do was decided by the machine.
extension ProxyHandler {
    typealias Action = ConnectionStateMachine.Action

    /// Carries out `action`, with the data of the event that led to it.
    func run(_ action: Action, with data: EventData = .none) {
        switch action {
        case .none, .judgeUnauthorized:
            // `.judgeUnauthorized` is answered by the response-head event itself (the
            // profile's verdict is an input of the machine's next event, not an effect).
            break
        case .takePart:
            if case .part(let part) = data { dispatch(part) }
        case .enqueuePart:
            if case .part(let part) = data {
                if queue == nil { queue = CircularBuffer(initialCapacity: 4) }
                queue?.append(part)
            }
        case .read:
            context?.read()
        case .armTimer:
            armTimer()

        // The request on its way
        case .forwardBody:
            if case .body(let buffer) = data { forwardBody(buffer) }
        case .holdBody:
            if case .body(let buffer) = data { holdBody(buffer) }
        case .forwardEnd:
            guard let upstream = exchange?.upstream else { return }
            upstream.handler.sendEnd()
            upstream.handler.flush()
            armTimer()
        case .requestEndHeld:
            if let exchange, let callback = exchange.onRequestEnd {
                exchange.onRequestEnd = nil
                callback()
            }
        case .connect(let sendContinue):
            guard let exchange, let context else { return }
            if sendContinue && !servesHTTP2Stream {
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
            }
            // No wait of ours while connecting (the pool's connect timeout bounds it).
            armTimer()
            connect(exchange, fresh: false)
        case .send(let end):
            if case .connection(let connection, let head) = data { send(head, on: connection, end: end) }
        case .releaseConnection:
            if case .connection(let connection, _) = data { pool?.release(connection) }

        // The response
        case .forwardResponseHead(let keepAlive):
            if case .responseHead(let shaped, let status) = data { forwardResponseHead(shaped, status: status, keepAlive: keepAlive) }
        case .discardResponseHead:
            // Not the client's business yet: read this answer to its end, then retry.
            armTimer()
        case .switchProtocols:
            // Never planned for an HTTP/2 stream (no upgrade there); a stream just closes.
            guard !servesHTTP2Stream else { return afterAnswer(.close, written: nil) }
            guard let exchange, let context, case .responseHead(var shaped, _) = data else { return }
            exchange.responseStatus = 101
            shaped.head.end()
            context.writeAndFlush(wrapOutboundOut(shaped.head.buffer), promise: nil)
        case .forwardResponseBody:
            if case .body(let buffer) = data { forwardResponseBody(buffer) }
        case .startTunnel:
            if let exchange { startTunnel(exchange) }
        case .finish(let reuse, let after):
            guard let exchange, let context else { return }
            giveBack(exchange, reuse: reuse)
            record(exchange, status: exchange.responseStatus ?? 502)
            clientUnflushed = false
            if servesHTTP2Stream {
                // An HTTP/2 upstream's trailers (gRPC's status) go on; HTTP/1 clients get none.
                afterAnswer(after, written: context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(exchange.responseTrailers))))
                return
            }
            let end = exchange.chunksResponse ? context.channel.allocator.buffer(staticString: ChunkedCoding.lastChunk) : nil
            if after == .nextRequest {
                // Keep-alive, the common case: no promise to allocate and complete.
                if let end { context.write(wrapOutboundOut(end), promise: nil) }
                context.flush()
                afterAnswer(after, written: nil)
            } else {
                afterAnswer(after, written: context.writeAndFlush(wrapOutboundOut(end ?? context.channel.allocator.buffer(capacity: 0))))
            }

        // Retries: the machine reset its half of the attempt; `beginAttempt` is the data's.
        case .retryWithFreshToken(let reuse):
            guard let exchange else { return }
            giveBack(exchange, reuse: reuse)
            exchange.beginAttempt()
            // The profile already dropped the refused token, or has a newer one.
            authorize(exchange)
        case .retryOnNewConnection:
            // A pooled connection the upstream closed while it sat idle: send the request
            // again on a new connection (it is idempotent and bodiless).
            guard let exchange else { return }
            giveBack(exchange, reuse: false)
            exchange.beginAttempt()
            connect(exchange, fresh: true)

        // The gateway's own answers
        case .refuseHead(let decision):
            answerRefusal(decision, with: data)
        case .refuseMalformed:
            answerRefusal(ConnectionStateMachine.Answer(keepAlive: false, after: .close), with: data)
        case .refuse(let failure):
            if case .answer(let answer) = data {
                settle(failure, with: answer)
            } else {
                settle(failure, with: GatewayAnswer(.internalError))
            }
        case .refuseBodyTooLarge(let failure, let limit):
            guard let exchange else { return }
            settle(failure, with: .bodyTooLarge(route: exchange.plan.route.name, limit: limit))
        case .refuseSwitchingProtocols(let failure):
            guard let exchange else { return }
            let route = exchange.plan.route
            route.metrics.upstreamError(.reset)
            settle(failure, with: GatewayAnswer(
                .upstreamError,
                detail: exchange.plan.mayUpgrade
                    ? "the upstream's 101 does not complete the WebSocket handshake asked for (Upgrade: websocket and the matching Sec-WebSocket-Accept)"
                    : "the upstream switched protocols without being asked to",
                route: route.name
            ))
        case .timedOut(let wait, let failure):
            guard let exchange else { return }
            let route = exchange.plan.route
            if wait != .admission { route.metrics.upstreamError(.timeout) }
            environment.logger.warning("request timed out", metadata: ["tg.route": "\(route.name)", "timeout": "\(wait)"])
            settle(failure, with: exchange.timeoutError(wait))
        case .requestTimeout:
            answerRequestTimeout()

        // The connection
        case .nextRequest:
            afterAnswer(.nextRequest, written: nil)
        case .abandon(let malformed):
            abandonExchange(malformed ? .badRequest : .clientClosed)
        case .abandonAndClose:
            // The request being forwarded is itself malformed (a broken chunk, say): the
            // upstream must not see the rest, and no answer can be trusted to frame.
            abandonExchange(.badRequest)
            afterAnswer(.close, written: nil)
        case .close:
            afterAnswer(.close, written: nil)
        }
    }

    // The body actions, which the events they follow also call directly (their data is
    // one buffer: not worth wrapping in `EventData`).

    /// `.forwardBody`: the request body part goes upstream (and into the replay copy).
    func forwardBody(_ buffer: ByteBuffer) {
        guard let exchange else { return }
        exchange.requestBodyBytes += buffer.readableBytes
        exchange.keepForReplay(buffer)
        exchange.upstream?.handler.sendBody(buffer)
    }

    /// `.holdBody`: the part waits for the upstream connection, or for the gateway that reads it.
    func holdBody(_ buffer: ByteBuffer) {
        guard let exchange else { return }
        exchange.requestBodyBytes += buffer.readableBytes
        exchange.keepForReplay(buffer)
        exchange.hold(buffer)
    }

    /// `.forwardResponseBody`: the response body part goes to the client.
    func forwardResponseBody(_ buffer: ByteBuffer) {
        guard let exchange, let context else { return }
        exchange.responseBodyBytes += buffer.readableBytes
        clientUnflushed = true
        if servesHTTP2Stream {
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        } else if exchange.chunksResponse {
            ChunkedCoding.frame(buffer, allocator: context.channel.allocator) { context.write(wrapOutboundOut($0), promise: nil) }
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    /// `.send`: the request head and any held body go out on the connection that arrived.
    func send(_ head: HTTPHeadBuilder, on connection: UpstreamConnection, end: Bool) {
        guard let exchange else { return }
        exchange.upstream = connection
        connection.handler.delegate = self
        connection.handler.sendHead(head.buffer, method: exchange.method, chunkedBody: exchange.plan.isChunked)
        for buffer in exchange.pendingBody { connection.handler.sendBody(buffer) }
        exchange.pendingBody.removeAll()
        if end { connection.handler.sendEnd() }
        connection.handler.flush()
        armTimer()
        run(machine.upstreamWritabilityChanged(connection.isWritable))
    }

    /// `.forwardResponseHead`: the shaped head, with the gateway's response fields, goes to
    /// the client. Consumed: appending to a head still held elsewhere would copy its buffer.
    func forwardResponseHead(_ shaped: consuming ResponseRules.ClientHead, status: Int, keepAlive: Bool) {
        guard let exchange, let context else { return }
        exchange.responseStatus = status
        exchange.chunksResponse = shaped.chunked
        if shaped.delimitedByClose { machine.responseDelimitedByClose() }
        for field in exchange.responseFields { shaped.head.field(field.name, field.value) }
        if servesHTTP2Stream {
            let head = HTTPResponseHead(version: .http2, status: HTTPResponseStatus(statusCode: status), headers: shaped.head.fieldsWritten)
            context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
            clientUnflushed = true
            armTimer()
            return
        }
        ResponseRules.finish(&shaped.head, keepAlive: keepAlive && !shaped.delimitedByClose, clientVersion: exchange.clientVersion)
        context.write(wrapOutboundOut(shaped.head.buffer), promise: nil)
        clientUnflushed = true
        armTimer()
    }
}
