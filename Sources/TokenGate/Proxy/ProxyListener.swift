import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Knows every open client connection and the listener it came through, so shutdown can
/// ask each to finish and close, and a reload can retire those of a listener that moved.
final class ConnectionTracker: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: (channel: any Channel, listener: String)]>([:])

    /// Registers `channel` unless `limit` connections of `listener` are open already.
    @discardableResult
    func add(_ channel: any Channel, listener: String = "", limit: Int = .max) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = channels.withLockedValue { channels -> Bool in
            if limit < .max, channels.values.lazy.filter({ $0.listener == listener }).count >= limit { return false }
            channels[id] = (channel, listener)
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.channels.withLockedValue { _ = $0.removeValue(forKey: id) }
        }
        return true
    }

    var count: Int { channels.withLockedValue { $0.count } }

    /// Asks every connection (or those of `listener`) to finish its current request and
    /// close: keep-alive connections close at once when idle, or after their response.
    func quiesceAll(listener: String? = nil) {
        let selected = channels.withLockedValue { channels in
            channels.values.filter { listener == nil || $0.listener == listener }.map(\.channel)
        }
        for channel in selected {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func closeAll() {
        for entry in channels.withLockedValue({ Array($0.values) }) {
            entry.channel.close(promise: nil)
        }
    }
}

/// Binds one proxy listener: the HTTP/1.1 server pipeline and a `ProxyHandler` per connection.
enum ProxyListener {
    /// How the tracker names connections of one listener at one address.
    static func trackingName(_ listener: ListenerConfig) -> String {
        "\(listener.name)@\(listener.address)"
    }

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
                tracker.add(channel, listener: Self.trackingName(listener))
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
