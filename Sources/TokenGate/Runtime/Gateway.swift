import AsyncHTTPClient
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A running TokenGate: its proxy listeners and admin listener, bound and serving.
///
/// Start one with `Gateway.start(_:logger:)`; stop it with `shutdown(grace:)`, which stops
/// accepting, lets in-flight requests finish within the grace period, and closes the rest.
/// `GatewayService` wraps this for a `ServiceGroup` (SIGTERM → graceful shutdown).
public final class Gateway: Sendable {
    private let snapshots: SnapshotStore
    private let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool
    private let pools: UpstreamPools
    private let tracker: ConnectionTracker
    private let serverChannels: [String: any Channel]
    private let adminChannel: any Channel
    private let logger: Logger
    private let ready: NIOLockedValueBox<Bool>
    private let httpClient: HTTPClient
    /// The control plane: one refresh loop per credential profile. Cancelled and awaited
    /// by `shutdown`.
    private let controlPlane: Task<Void, Never>
    private let profiles: [String: CredentialProfile]
    private let introspection: [String: IntrospectionProfile]

    /// Binds every listener of `loaded` and the admin listener. If any address cannot be
    /// bound, nothing stays bound and the error says which listener failed.
    /// `resolver` reads secrets when tokens are fetched (so rotated secret files are seen).
    public static func start(
        _ loaded: LoadedConfig,
        logger: Logger,
        resolver: SecretResolver = .processEnvironment(),
        eventLoopGroup: MultiThreadedEventLoopGroup? = nil
    ) async throws -> Gateway {
        var profiles: [String: CredentialProfile] = [:]
        for profile in loaded.config.credentials { profiles[profile.name] = CredentialProfile(profile) }
        var introspection: [String: IntrospectionProfile] = [:]
        for profile in loaded.config.introspection { introspection[profile.name] = IntrospectionProfile(profile) }
        let snapshot = try ConfigSnapshot(loaded, profiles: profiles, introspection: introspection)
        let group = eventLoopGroup ?? MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let snapshots = SnapshotStore(snapshot)
        let pools = UpstreamPools(group: group)
        let tracker = ConnectionTracker()
        let ready = NIOLockedValueBox(false)
        var bound: [String: any Channel] = [:]
        do {
            for listener in loaded.config.listeners {
                let environment = ListenerEnvironment(name: listener.name, snapshots: snapshots, pools: pools, logger: logger)
                do {
                    bound[listener.name] = try await ProxyListener.bind(listener, environment: environment, group: group, tracker: tracker)
                } catch {
                    throw ListenerBindError(listener: "listeners.\(listener.name)", address: listener.address, underlying: "\(error)")
                }
            }
            let routes = AdminRoutes(isReady: { ready.withLockedValue { $0 } })
            let admin: any Channel
            do {
                admin = try await AdminServer.bind(loaded.config.admin.address, routes: routes, group: group, tracker: tracker)
            } catch {
                throw ListenerBindError(listener: "admin", address: loaded.config.admin.address, underlying: "\(error)")
            }
            let httpClient = TokenEndpointClient.makeHTTPClient(eventLoopGroup: group)
            let client = TokenEndpointClient(http: httpClient)
            let running = Array(profiles.values)
            let introspecting = Array(introspection.values)
            let introspectionClient = IntrospectionClient(http: httpClient)
            let controlPlane = Task {
                await withDiscardingTaskGroup { tasks in
                    for profile in running {
                        tasks.addTask { await profile.run(client: client, resolver: resolver, logger: logger) }
                    }
                    for profile in introspecting {
                        tasks.addTask { await profile.run(client: introspectionClient, resolver: resolver, logger: logger) }
                    }
                }
            }
            let gateway = Gateway(
                snapshots: snapshots, group: group, ownsGroup: eventLoopGroup == nil, pools: pools, tracker: tracker,
                serverChannels: bound, adminChannel: admin, logger: logger, ready: ready,
                httpClient: httpClient, controlPlane: controlPlane, profiles: profiles, introspection: introspection
            )
            ready.withLockedValue { $0 = true }
            for (name, channel) in bound {
                logger.info("listening", metadata: ["tg.listener": "\(name)", "address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            }
            logger.info("admin listening", metadata: ["address": "\(admin.localAddress.map { "\($0)" } ?? "?")"])
            return gateway
        } catch {
            for channel in bound.values { try? await channel.close() }
            if eventLoopGroup == nil { try? await group.shutdownGracefully() }
            throw error
        }
    }

    private init(
        snapshots: SnapshotStore, group: MultiThreadedEventLoopGroup, ownsGroup: Bool, pools: UpstreamPools,
        tracker: ConnectionTracker, serverChannels: [String: any Channel], adminChannel: any Channel, logger: Logger,
        ready: NIOLockedValueBox<Bool>, httpClient: HTTPClient, controlPlane: Task<Void, Never>, profiles: [String: CredentialProfile],
        introspection: [String: IntrospectionProfile]
    ) {
        self.introspection = introspection
        self.httpClient = httpClient
        self.controlPlane = controlPlane
        self.profiles = profiles
        self.snapshots = snapshots
        self.group = group
        self.ownsGroup = ownsGroup
        self.pools = pools
        self.tracker = tracker
        self.serverChannels = serverChannels
        self.adminChannel = adminChannel
        self.logger = logger
        self.ready = ready
    }

    /// The port a listener is bound to (useful with port 0), or nil for an unknown name.
    public func port(ofListener name: String) -> Int? { serverChannels[name]?.localAddress?.port }

    /// The admin listener's port.
    public var adminPort: Int? { adminChannel.localAddress?.port }

    /// The live state of a credential profile (tests, status).
    func credentialProfile(named name: String) -> CredentialProfile? { profiles[name] }

    /// The live state of an introspection profile (tests, status).
    func introspectionProfile(named name: String) -> IntrospectionProfile? { introspection[name] }

    /// The version label of the configuration being served.
    public var configVersion: String { snapshots.current.version }

    /// Stops accepting, lets in-flight requests finish for up to `grace`, then closes
    /// what is left and releases the event loops (when this gateway created them).
    public func shutdown(grace: Duration) async {
        ready.withLockedValue { $0 = false }
        logger.info("draining", metadata: ["connections": "\(tracker.count)"])
        for channel in serverChannels.values { try? await channel.close() }
        try? await adminChannel.close()
        tracker.quiesceAll()
        let deadline = ContinuousClock.now + grace
        while tracker.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if tracker.count > 0 {
            logger.warning("grace period over, closing connections", metadata: ["connections": "\(tracker.count)"])
            tracker.closeAll()
        }
        for profile in introspection.values { profile.finish() }
        controlPlane.cancel()
        await controlPlane.value
        try? await httpClient.shutdown()
        await pools.closeAllIdle()
        if ownsGroup { try? await group.shutdownGracefully() }
        logger.info("stopped")
    }
}

/// A listener address that could not be bound.
public struct ListenerBindError: Error, CustomStringConvertible {
    public var listener: String
    public var address: BindAddress
    public var underlying: String
    public var description: String { "\(listener): cannot listen on \(address): \(underlying)" }
}

/// Runs a gateway inside a `ServiceGroup`: serves until graceful shutdown (SIGTERM,
/// SIGINT), then drains within the configured grace period.
public struct GatewayService: Service {
    let loaded: LoadedConfig
    let logger: Logger
    let resolver: SecretResolver

    public init(loaded: LoadedConfig, logger: Logger, resolver: SecretResolver = .processEnvironment()) {
        self.loaded = loaded
        self.logger = logger
        self.resolver = resolver
    }

    public func run() async throws {
        let gateway = try await Gateway.start(loaded, logger: logger, resolver: resolver)
        try? await gracefulShutdown()
        await gateway.shutdown(grace: loaded.config.shutdown.grace)
    }
}
