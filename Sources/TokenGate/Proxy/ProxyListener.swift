import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Knows every open client connection, so shutdown can ask each to finish and close.
final class ConnectionTracker: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.channels.withLockedValue { _ = $0.removeValue(forKey: id) }
        }
    }

    var count: Int { channels.withLockedValue { $0.count } }

    /// Asks every connection to finish its current request and close (HTTP keep-alive
    /// connections close at once when idle, or after their in-flight response).
    func quiesceAll() {
        for channel in channels.withLockedValue({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func closeAll() {
        for channel in channels.withLockedValue({ Array($0.values) }) {
            channel.close(promise: nil)
        }
    }
}

/// Binds one proxy listener: the HTTP/1.1 server pipeline and a `ProxyHandler` per connection.
enum ProxyListener {
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
                tracker.add(channel)
                // Settings as of this connection's accept: a reload applies to new connections.
                let settings = environment.snapshots.current.planner(forListener: environment.name)?.listener ?? listener
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
                    var encoder = HTTPResponseEncoder.Configuration()
                    encoder.automaticallySetFramingHeaders = false
                    try sync.configureHTTPServerPipeline(
                        withPipeliningAssistance: false,
                        withErrorHandling: false,
                        withEncoderConfiguration: encoder,
                        withDecoderLimitConfiguration: limits
                    )
                    try sync.addHandler(ProxyHandler(environment: environment, headTimer: timer))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: listener.address.host, port: listener.address.port)
            .get()
    }
}
