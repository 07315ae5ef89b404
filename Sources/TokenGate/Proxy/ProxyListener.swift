#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

/// Binds one proxy listener: the HTTP/1.1 server pipeline and a `ProxyHandler` per connection.
enum ProxyListener {
    /// How the tracker names connections of one listener at one address.
    static func trackingName(_ listener: ListenerConfig) -> String {
        "\(listener.name)@\(listener.address)"
    }

    /// The most client connections one listener may hold whatever `max_connections` says:
    /// half the file descriptors the process may open (a proxied connection may hold an
    /// upstream one too), less a reserve for the admin listener, token calls and files.
    static let descriptorBudget: Int = {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max else { return .max }
        let descriptors = Int(clamping: limit.rlim_cur)
        return max(1, (descriptors - 64) / 2)
    }()

    static func bind(
        _ listener: ListenerConfig,
        environment: ListenerEnvironment,
        group: any EventLoopGroup,
        tracker: ConnectionTracker
    ) async throws -> any Channel {
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                // Settings as of this connection's accept: a reload applies to new connections.
                let settings = environment.snapshots.current.planner(forListener: environment.name)?.listener ?? listener
                guard tracker.add(channel, listener: Self.trackingName(listener), limit: min(settings.maxConnections, Self.descriptorBudget)) else {
                    environment.telemetry.metrics.connectionRefused(listener: listener.name)
                    return channel.close()
                }
                var limits = NIOHTTPDecoderLimitConfiguration()
                limits.maxHeaderListSize = settings.maxHeaderBytes
                limits.maxHeaderFieldSize = settings.maxHeaderBytes
                limits.maxHeaderFieldCount = settings.maxHeaderCount + 1
                do {
                    let sync = channel.pipeline.syncOperations
                    let peer = channel.remoteAddress?.ipAddress ?? "unknown"
                    let eventLoop = channel.eventLoop
                    let timer = RequestHeadTimer(
                        headTimeout: TimeAmount(settings.headerReadTimeout), idleTimeout: TimeAmount(settings.idleTimeout),
                        onHeadTimeout: { startedAt, bodyBytes in
                            environment.recordRefusal(
                                .requestTimeout(), head: nil, startedAt: startedAt, bytesOut: bodyBytes, clientAddress: peer, eventLoop: eventLoop
                            )
                        }
                    )
                    try sync.addHandler(timer)
                    // NIO's llhttp decoder parses requests; the proxy handler writes (and checks)
                    // the response bytes itself.
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)))
                    try sync.addHandler(ProxyHandler(environment: environment, headTimer: timer, acceptedOn: listener.address))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: listener.address.host, port: listener.address.port)
            .get()
    }
}
