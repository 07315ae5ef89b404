import NIOCore
import NIOPosix
import NIOSSL

/// The connector of a running gateway: TCP with `TCP_NODELAY` through a `ClientBootstrap`
/// on the client connection's event loop, TLS when the endpoint asks for it (its context
/// built once per configuration snapshot), then the upstream HTTP handlers.
struct BootstrapUpstreamConnector: UpstreamConnector {
    func connect(to endpoint: UpstreamEndpoint, timeout: TimeAmount, on eventLoop: any EventLoop) -> EventLoopFuture<any Channel> {
        connect(to: endpoint, timeout: timeout, on: eventLoop, http1: true)
    }

    func connectTransport(to endpoint: UpstreamEndpoint, timeout: TimeAmount, on eventLoop: any EventLoop) -> EventLoopFuture<any Channel> {
        connect(to: endpoint, timeout: timeout, on: eventLoop, http1: false)
    }

    private func connect(to endpoint: UpstreamEndpoint, timeout: TimeAmount, on eventLoop: any EventLoop, http1: Bool) -> EventLoopFuture<any Channel> {
        let tlsContext = endpoint.tlsContext
        let serverHostname = endpoint.serverHostname
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext {
                        try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
                    }
                    if http1 { try sync.addUpstreamHTTPHandlers() }
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: endpoint.key.host, port: endpoint.key.port)
    }
}
