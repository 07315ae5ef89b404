import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Knows every open client connection and the listener it came through, so shutdown can
/// ask each to finish and close, and a reload can retire those of a listener that moved.
final class ConnectionTracker: Sendable {
    private struct Inner {
        var channels: [ObjectIdentifier: (channel: any Channel, listener: String)] = [:]
        /// Waiting for the count to reach zero (shutdown's drain).
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let inner = NIOLockedValueBox(Inner())

    /// Registers `channel` unless `limit` connections of `listener` are open already.
    @discardableResult
    func add(_ channel: any Channel, listener: String = "", limit: Int = .max) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = inner.withLockedValue { inner -> Bool in
            if limit < .max, inner.channels.values.lazy.filter({ $0.listener == listener }).count >= limit { return false }
            inner.channels[id] = (channel, listener)
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { [weak self] _ in
            let waiters = self?.inner.withLockedValue { inner -> [CheckedContinuation<Void, Never>] in
                inner.channels.removeValue(forKey: id)
                guard inner.channels.isEmpty else { return [] }
                defer { inner.drainWaiters.removeAll() }
                return inner.drainWaiters
            } ?? []
            for waiter in waiters { waiter.resume() }
        }
        return true
    }

    var count: Int { inner.withLockedValue { $0.channels.count } }

    /// Returns once no connection is open (at once if none is).
    func drained() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = inner.withLockedValue { inner -> Bool in
                if inner.channels.isEmpty { return true }
                inner.drainWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Asks every connection (or those of `listener`) to finish its current request and
    /// close: keep-alive connections close at once when idle, or after their response.
    func quiesceAll(listener: String? = nil) {
        let selected = inner.withLockedValue { inner in
            inner.channels.values.filter { listener == nil || $0.listener == listener }.map(\.channel)
        }
        for channel in selected {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func closeAll() {
        for entry in inner.withLockedValue({ Array($0.channels.values) }) {
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
