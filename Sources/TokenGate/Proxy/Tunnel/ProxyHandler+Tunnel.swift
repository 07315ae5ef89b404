import NIOCore
import NIOHTTP1

// An upgrade the upstream accepted (101 Switching Protocols) turns both connections into
// a byte tunnel: the HTTP handlers leave both pipelines and a `TunnelHandler` pair joins them.
extension ProxyHandler {
    /// The 101 is complete and passed on: swap the HTTP handlers for the tunnel. Deferred to
    /// the next loop tick, so no decoder is removed while it is delivering a message.
    func startTunnel(_ exchange: Exchange) {
        guard let context, let upstream = exchange.upstream else { return }
        exchange.upstream = nil
        self.exchange = nil
        timer?.cancel()
        let loop = context.eventLoop.assumeIsolated()
        loop.execute { [self] in
            do {
                try joinTunnel(exchange, client: context, upstream: upstream)
            } catch {
                environment.logger.warning("could not start the tunnel", metadata: ["tg.route": "\(exchange.plan.route.name)", "error": "\(error)"])
                record(exchange, status: 101, error: .tunnelFailed)
                upstream.channel.close(promise: nil)
                context.close(promise: nil)
            }
        }
    }

    private func joinTunnel(_ exchange: Exchange, client context: ChannelHandlerContext, upstream: UpstreamConnection) throws {
        let route = exchange.plan.route
        let session = TunnelSession(eventLoop: context.eventLoop, idleTimeout: route.idleTimeout) { [self] bytesIn, bytesOut in
            exchange.requestBodyBytes += bytesIn
            exchange.responseBodyBytes += bytesOut
            record(exchange, status: 101)
        }
        let clientSide = TunnelHandler(session: session, side: .client)
        let upstreamSide = TunnelHandler(session: session, side: .upstream)
        clientSide.partner = upstreamSide
        upstreamSide.partner = clientSide

        // Client pipeline: the tunnel handler goes last; then everything HTTP leaves. The
        // decoder stopped parsing at the upgrade request and the client was not read since.
        let client = context.pipeline.syncOperations
        try client.addHandler(clientSide)
        // (The head timeout lives in this handler and its decoder: both leave.)
        client.removeHandler(context: try client.context(handlerType: ByteToMessageHandler<RequestHeadDecoder<ProxyHandler>>.self), promise: nil)

        // Upstream pipeline: bytes the upstream sent right after its 101 are still in the
        // decoder; removing it forwards them to the tunnel handler, which must be there first.
        let remote = upstream.channel.pipeline.syncOperations
        remote.removeHandler(context: try remote.context(handlerType: UpstreamHandler.self), promise: nil)
        try remote.addHandler(upstreamSide)
        // The decoder leaves the pipeline on a later tick and only then hands over what it
        // held; flush the client side once it has.
        let handedOver = upstream.channel.eventLoop.makePromise(of: Void.self)
        handedOver.futureResult.assumeIsolated().whenComplete { _ in clientSide.flush() }
        remote.removeHandler(context: try remote.context(handlerType: ByteToMessageHandler<UpstreamResponseDecoder>.self), promise: handedOver)

        session.start()
        client.removeHandler(context: context, promise: nil)
        clientSide.resumeReading()
        upstreamSide.resumeReading()
    }
}
