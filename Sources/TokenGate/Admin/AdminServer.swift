import NIOCore
import NIOHTTP1
import NIOPosix

enum AdminServer {
    /// Most admin connections open at once; more are closed as they arrive.
    static let maxConnections = 64
    static let headTimeout = TimeAmount.seconds(10)
    static let idleTimeout = TimeAmount.seconds(60)

    static func bind(_ address: BindAddress, routes: AdminRoutes, group: any EventLoopGroup, tracker: ConnectionTracker) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard tracker.add(channel, listener: "admin", limit: maxConnections) else {
                    return channel.close()
                }
                do {
                    let timer = AdminHeadTimer(headTimeout: headTimeout, idleTimeout: idleTimeout)
                    try channel.pipeline.syncOperations.addHandler(timer)
                    var limits = NIOHTTPDecoderLimitConfiguration()
                    limits.maxHeaderListSize = 16 * 1024
                    limits.maxHeaderFieldSize = 8 * 1024
                    limits.maxHeaderFieldCount = 64
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: true,
                        withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits
                    )
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(routes: routes, allowedHost: address.host, headTimer: timer))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
    }
}
