import NIOCore
import NIOHTTP1
import NIOPosix

/// Binds one proxy listener; each connection it accepts is counted against the listener's
/// `max_connections` and set up by `ClientPipeline`.
enum ProxyListener {
    /// The size of a connection's first read buffer (see `bind`).
    static let firstReadBytes = 1024

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
        // The descriptor limit is the process's: read once per bind, not per connection.
        let budget = DescriptorLimit.connectionBudget
        if listener.maxConnections > budget {
            environment.logger.warning("max_connections is more than the open-file limit allows; holding fewer", metadata: [
                "tg.listener": "\(listener.name)", "max_connections": "\(listener.maxConnections)", "held_at_most": "\(budget)",
                "open_file_limit": "\(DescriptorLimit.current ?? 0)",
            ])
        }
        // One string for every connection of this listener (made per accept, it was a
        // string each connection held for its life).
        let trackingName = Self.trackingName(listener)
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // Each connection keeps its last read buffer for the next read (NIO's pooled
            // receive buffer), so its first size is memory every idle keep-alive connection
            // holds. 1 KiB, nginx's `client_header_buffer_size`, takes a typical head in one
            // read; the adaptive allocator grows it for bodies and larger heads.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: Self.firstReadBytes, maximum: 65536))
            .childChannelInitializer { channel in
                // Settings as of this connection's accept: a reload applies to new connections.
                let settings = environment.snapshots.current.planner(forListener: environment.name)?.listener ?? listener
                guard tracker.add(channel, listener: trackingName, limit: min(settings.maxConnections, budget)) else {
                    environment.telemetry.metrics.connectionRefused(listener: listener.name)
                    return channel.close()
                }
                // A TLS listener's certificate as of this accept (a rotation serves new
                // connections; this one keeps its own).
                let certificate = settings.tls == nil ? nil : environment.certificates.certificate(for: environment.name)
                if settings.tls != nil, certificate == nil { return channel.close() }
                let parts = ClientPipeline.Parts(
                    settings: settings, environment: environment, acceptedOn: listener.address,
                    streams: ClientPipeline.StreamAdmission(tracker: tracker, trackingName: trackingName, environment: environment, budget: budget)
                )
                do {
                    try ClientPipeline.configure(channel, parts, certificate: certificate)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: listener.address.host, port: listener.address.port)
            .get()
    }
}
