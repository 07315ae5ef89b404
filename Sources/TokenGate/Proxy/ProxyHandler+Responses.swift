import NIOCore
import NIOHTTP1

// Answers the gateway writes on its own behalf, and how a connection ends after them.
extension ProxyHandler {
    /// Refuses a request before any exchange began (no route, a malformed head, …).
    func respondAndDiscard(_ answer: GatewayError, to head: HTTPRequestHead, startedAt: NIODeadline, policy: AccessLogPolicy) {
        let hasBody = RequestPlanner.declaresBody(head)
        // A request with a body we will not read is closed rather than drained: its framing
        // may be the very thing that was wrong, and draining costs bandwidth for nothing.
        // After a malformed request (400) nothing later on the connection is trusted either.
        let keepAlive = head.isKeepAlive && !hasBody && answer.status != .badRequest && !closeAfterExchange
        let written = respond(with: answer, version: head.version, keepAlive: keepAlive)
        recordRefusal(answer, head: head, startedAt: startedAt, policy: policy, bytesOut: written.bodyBytes)
        if keepAlive {
            state = .discarding
        } else {
            closeAfter(written.future)
        }
    }

    /// A response the gateway wrote: when its last byte is out, and its body size.
    struct Written {
        var future: EventLoopFuture<Void>?
        var bodyBytes: Int
    }

    /// Writes a complete JSON error response (with `Connection: close` unless `keepAlive`).
    func respond(with answer: GatewayError, version: HTTPVersion, keepAlive: Bool) -> Written {
        guard let context else { return Written(future: nil, bodyBytes: 0) }
        let body = answer.body(allocator: context.channel.allocator)
        let bodyBytes = body.readableBytes
        context.write(wrapOutboundOut(.head(answer.head(version: version, contentLength: bodyBytes, keepAlive: keepAlive))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        return Written(future: context.writeAndFlush(wrapOutboundOut(.end(nil))), bodyBytes: bodyBytes)
    }

    /// Ends the connection once `written` (the last response bytes) is on the wire. If the
    /// client is still sending a request body, only our side is shut at first and the
    /// rest is read and dropped for a moment (bounded in time and bytes), so the client
    /// reads the response rather than a connection reset: nginx's lingering close.
    func closeAfter(_ written: EventLoopFuture<Void>?, linger: Bool = true) {
        guard let context else { return }
        guard linger, !requestComplete else {
            state = .closed
            if let written {
                written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
            return
        }
        state = .lingering
        lingeredBytes = 0
        pipelined.removeAll()
        written?.assumeIsolated().whenComplete { _ in context.close(mode: .output, promise: nil) }
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { [weak self] in
            guard let self, case .lingering = self.state else { return }
            self.state = .closed
            context.close(promise: nil)
        }
        resumeClientReads()
    }

    func linger(_ part: HTTPServerRequestPart) {
        switch part {
        case .body(let buffer):
            lingeredBytes += buffer.readableBytes
            if lingeredBytes <= Self.lingerBytes { return }
        case .head, .end:
            break
        }
        state = .closed
        context?.close(promise: nil)
    }
}
