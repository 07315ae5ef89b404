import AsyncHTTPClient
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A running TokenGate: its proxy listeners and admin listener, bound and serving.
///
/// Start one with `Gateway.start(_:logger:)`; `reload(trigger:)` swaps in a new
/// configuration (validated completely first; a bad one changes nothing); stop it with
/// `shutdown(grace:)`, which stops accepting, lets in-flight requests finish within the
/// grace period, and closes the rest. `GatewayService` wraps this for a `ServiceGroup`.
public final class Gateway: Sendable {
    /// What a reload may change, owned by the one reload in progress.
    struct Running {
        var loaded: LoadedConfig
        var listeners: [String: (address: BindAddress, channel: any Channel)]
        var profiles: Profiles
        var lastReload: ReloadOutcome?
    }

    let snapshots: SnapshotStore
    let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool
    let pools: UpstreamPools
    let tracker: ConnectionTracker
    private let adminChannel: any Channel
    let logger: Logger
    private let ready: NIOLockedValueBox<Bool>
    /// Token requests. Apart from introspection's client, so an ingress flood of unknown
    /// tokens queueing for connections never delays an egress refresh.
    let httpClient: HTTPClient
    /// Introspection calls.
    let introspectionHTTPClient: HTTPClient
    let controlPlane: ControlPlane
    let running: NIOLockedValueBox<Running>
    let resolver: SecretResolver
    let telemetry: Telemetry
    /// When this gateway started, in seconds since the epoch.
    let startedAt = WallClock.secondsSinceEpoch()
    /// Serialises reloads (SIGHUP, the file watcher and `POST /reload` may coincide).
    let reloads: ReloadWorker
    /// Bearer tokens revoked here or anywhere in the fleet, checked on every validated request.
    let tokenRevocations: TokenRevocations
    /// The fleet's shared store (`store`), if configured.
    let fleet: FleetStore?
    /// The certificates TLS listeners serve (replaced by reloads, refreshed by the watcher).
    let certificates: ServingCertificates
    /// Runs the store's loops. Not in the control plane's group: that group ends when
    /// graceful shutdown begins, and the store must stay up while connections drain (a
    /// logout made then still reaches the fleet); `shutdown` flushes it, then ends this.
    private let fleetRunner = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// Binds every listener of `loaded` and the admin listener. If any address cannot be
    /// bound, nothing stays bound and the error says which listener failed.
    /// `resolver` reads secrets (also when tokens are fetched, so rotated files are seen).
    /// With `watch`, the file at `loaded.source` is watched and reloaded when it changes.
    /// `telemetry` receives metrics (served at `/metrics`) and access log lines.
    public static func start(
        _ loaded: LoadedConfig,
        logger: Logger,
        resolver: SecretResolver = .processEnvironment(),
        watch: Bool = false,
        telemetry: Telemetry = Telemetry(),
        eventLoopGroup: MultiThreadedEventLoopGroup? = nil,
        upstreamIdleTimeout: Duration = .seconds(4),
        certificateCheckInterval: Duration = .seconds(5)
    ) async throws -> Gateway {
        DescriptorLimit.raiseSoftToHard()
        // TLS listeners' files first: a listener that cannot serve its certificate is a
        // configuration error, reported as one, before anything is bound.
        let certificates = ServingCertificates()
        switch certificates.prepared(for: loaded.config.listeners) {
        case .success(let made): certificates.replace(with: made)
        case .failure(var problem):
            problem.source = loaded.source
            throw problem
        }
        let metrics = telemetry.metrics
        let profiles = Profiles().reconciled(with: loaded.config, resolver: resolver, metrics: metrics).all
        let tokenRevocations = TokenRevocations()
        let snapshot = try ConfigSnapshot(loaded, profiles: profiles, metrics: metrics, revocations: tokenRevocations)
        let group = eventLoopGroup ?? MultiThreadedEventLoopGroup(numberOfThreads: loaded.config.workerCount)
        var fleet: FleetStore?
        if let store = loaded.config.store {
            switch FleetStore.make(store, resolver: resolver, group: group, logger: logger, metrics: metrics.store()) {
            case .success(let made):
                fleet = made
            case .failure(let problem):
                if eventLoopGroup == nil { try? await group.shutdownGracefully() }
                throw ConfigurationError(issues: [problem.issue], warnings: [], source: loaded.source)
            }
        }
        let snapshots = SnapshotStore(snapshot)
        // Upstream connections are sockets here; tests of the proxy handler pass a connector of their own.
        let pools = UpstreamPools(group: group, idleTimeout: TimeAmount(upstreamIdleTimeout), connector: BootstrapUpstreamConnector())
        let tracker = ConnectionTracker()
        let ready = NIOLockedValueBox(false)
        var bound: [String: (address: BindAddress, channel: any Channel)] = [:]
        var stoppedAlready = false
        do {
            for listener in loaded.config.listeners {
                let channel = try await bindListener(
                    listener, snapshots: snapshots, pools: pools, group: group, tracker: tracker, logger: logger, telemetry: telemetry,
                    certificates: certificates
                )
                bound[listener.name] = (listener.address, channel)
            }
            let box = NIOLockedValueBox<Gateway?>(nil)
            let routes = AdminRoutes(
                isReady: { ready.withLockedValue { $0 } && (box.withLockedValue { $0 }?.keysReady ?? false) && (box.withLockedValue { $0 }?.storeReady ?? false) },
                status: { box.withLockedValue { $0 }?.statusJSON ?? "{}" },
                metrics: { box.withLockedValue { $0 }?.metricsText ?? "" },
                reload: { answer in
                    guard let gateway = box.withLockedValue({ $0 }) else {
                        answer(nil)
                        return
                    }
                    gateway.requestReload(trigger: "admin") { outcome in answer(outcome) }
                },
                revoke: { body in box.withLockedValue { $0 }?.revoke(body) ?? AdminRoutes.Answer(GatewayAnswer(.internalError, detail: "the gateway is not running")) }
            )
            let admin: any Channel
            do {
                admin = try await AdminServer.bind(loaded.config.admin.address, routes: routes, group: group, tracker: tracker)
            } catch {
                throw ListenerBindError(listener: "admin", address: loaded.config.admin.address, underlying: "\(error)")
            }
            let gateway = Gateway(
                snapshots: snapshots, group: group, ownsGroup: eventLoopGroup == nil, pools: pools, tracker: tracker,
                adminChannel: admin, logger: logger, ready: ready, resolver: resolver, telemetry: telemetry,
                running: Running(loaded: loaded, listeners: bound, profiles: profiles), tokenRevocations: tokenRevocations, fleet: fleet,
                certificates: certificates
            )
            // The reload worker knows what to do before the admin listener can ask it.
            gateway.reloads.attach { [weak gateway] trigger in
                await gateway?.performReload(trigger: trigger)
                    ?? ReloadOutcome(trigger: trigger, time: WallClock.secondsSinceEpoch(), succeeded: false, version: "", errors: ["the gateway has stopped"])
            }
            box.withLockedValue { $0 = gateway }
            metrics.configLoaded(version: loaded.version)
            if let fleet {
                fleet.attach { [weak gateway] revocations in gateway?.apply(revocations) }
                // Profiles queue what they learn from the first request on, even before
                // the first sync ended.
                for profile in profiles.login.values { profile.join(fleet) }
                for profile in profiles.credentials.values { profile.join(fleet) }
                // Detached: no task-local graceful shutdown of a surrounding ServiceGroup.
                gateway.fleetRunner.withLockedValue { $0 = Task.detached { await fleet.run() } }
                // A store at a newer schema is refused now; one that is down is waited for
                // no longer than this (the gateway serves on, and catches up when it is back).
                if case .newerSchema(let version)? = await fleet.firstSync(within: .seconds(10)) {
                    // Everything the gateway started ends with it (its listeners, loops,
                    // clients and, when it made them, its event loops).
                    stoppedAlready = true
                    await gateway.shutdown(grace: .zero)
                    throw ConfigurationError(
                        issues: [ConfigIssue(.error, ConfigPath.root.key("store"), StoreProblem.newerSchema(version).description)], warnings: [], source: loaded.source
                    )
                }
            }
            await gateway.startLoops(of: profiles)
            // Always on: a listener that gains `tls` in a reload is watched from then on.
            await gateway.controlPlane.start(CertificateWatcherService(certificates: certificates, interval: certificateCheckInterval, logger: logger))
            if watch, let path = loaded.source {
                // The cycle gateway → control plane → watcher → gateway ends at `shutdown`.
                await gateway.controlPlane.start(ConfigWatcherService(watcher: ConfigFileWatcher(path: path, initial: loaded.version), group: group) { retry in
                    await gateway.reload(trigger: retry ? "file change (retry)" : "file change").succeeded
                })
            }
            ready.withLockedValue { $0 = true }
            for (name, entry) in bound {
                logger.info("listening", metadata: ["tg.listener": "\(name)", "address": "\(entry.channel.localAddress.map { "\($0)" } ?? "?")"])
            }
            logger.info("admin listening", metadata: [
                "address": "\(admin.localAddress.map { "\($0)" } ?? "?")",
                "workers": "\(group.makeIterator().reduce(0) { count, _ in count + 1 })",
            ])
            return gateway
        } catch {
            if !stoppedAlready {
                for entry in bound.values { try? await entry.channel.close() }
                if eventLoopGroup == nil { try? await group.shutdownGracefully() }
            }
            throw error
        }
    }

    private init(
        snapshots: SnapshotStore, group: MultiThreadedEventLoopGroup, ownsGroup: Bool, pools: UpstreamPools,
        tracker: ConnectionTracker, adminChannel: any Channel, logger: Logger, ready: NIOLockedValueBox<Bool>,
        resolver: SecretResolver, telemetry: Telemetry, running: Running, tokenRevocations: TokenRevocations, fleet: FleetStore?,
        certificates: ServingCertificates
    ) {
        self.certificates = certificates
        self.tokenRevocations = tokenRevocations
        self.fleet = fleet
        self.telemetry = telemetry
        self.snapshots = snapshots
        self.group = group
        self.ownsGroup = ownsGroup
        self.pools = pools
        self.tracker = tracker
        self.adminChannel = adminChannel
        self.logger = logger
        self.ready = ready
        self.resolver = resolver
        self.running = NIOLockedValueBox(running)
        self.httpClient = TokenEndpointClient.makeHTTPClient(eventLoopGroup: group)
        self.introspectionHTTPClient = TokenEndpointClient.makeHTTPClient(eventLoopGroup: group, connectionsPerHost: 32)
        let reloads = ReloadWorker()
        self.reloads = reloads
        self.controlPlane = ControlPlane(first: reloads, logger: logger)
    }

    static func bindListener(
        _ listener: ListenerConfig, snapshots: SnapshotStore, pools: UpstreamPools, group: any EventLoopGroup,
        tracker: ConnectionTracker, logger: Logger, telemetry: Telemetry, certificates: ServingCertificates
    ) async throws -> any Channel {
        let environment = ListenerEnvironment(
            name: listener.name, snapshots: snapshots, pools: pools, logger: logger, telemetry: telemetry, certificates: certificates
        )
        do {
            return try await ProxyListener.bind(listener, environment: environment, group: group, tracker: tracker)
        } catch {
            throw ListenerBindError(listener: "listeners.\(listener.name)", address: listener.address, underlying: "\(error)")
        }
    }

    /// Starts the control-plane loops of `profiles` (new ones: at start, everything; after a
    /// reload, what it added or replaced): a credential profile's token refresher, an
    /// introspection profile's worker, a JWT profile's key set refresher, and a login
    /// profile's worker (code exchanges, refreshes, logout tokens) and provider key refresher.
    func startLoops(of profiles: Profiles) async {
        let tokens = TokenEndpointClient(http: httpClient)
        for profile in profiles.credentials.values {
            profile.join(fleet)
            await controlPlane.start(ProfileLoop(profile: profile, client: tokens, resolver: resolver, logger: logger))
        }
        for profile in profiles.introspection.values {
            await controlPlane.start(ProfileLoop(profile: profile, client: IntrospectionClient(http: introspectionHTTPClient), resolver: resolver, logger: logger))
        }
        for profile in profiles.login.values {
            profile.attach(client: tokens, resolver: resolver)
            profile.join(fleet)
            await controlPlane.start(ProfileLoop(profile: profile, client: tokens, resolver: resolver, logger: logger))
        }
        for profile in profiles.keySets {
            await controlPlane.start(ProfileLoop(profile: profile, client: JWKSClient(http: httpClient), resolver: resolver, logger: logger))
        }
    }

    /// Readiness needs the store only when `store.required_for_readiness` says so.
    var storeReady: Bool {
        guard let fleet, fleet.config.requiredForReadiness else { return true }
        return fleet.status.up
    }

    /// Readiness waits (within each profile's `startup_wait_seconds`) for JWT key sets.
    var keysReady: Bool {
        running.withLockedValue { $0.profiles.keySets }.allSatisfy(\.isReady)
    }

    /// The port a listener is bound to (useful with port 0), or nil for an unknown name.
    public func port(ofListener name: String) -> Int? {
        running.withLockedValue { $0.listeners[name]?.channel.localAddress?.port }
    }

    /// The admin listener's port.
    var adminPort: Int? { adminChannel.localAddress?.port }

    /// The live state of a credential profile (tests, status).
    func credentialProfile(named name: String) -> CredentialProfile? { running.withLockedValue { $0.profiles.credentials[name] } }

    /// The live state of an introspection profile (tests, status).
    func introspectionProfile(named name: String) -> IntrospectionProfile? { running.withLockedValue { $0.profiles.introspection[name] } }

    /// The live state of a JWT profile (tests, status).
    func jwtProfile(named name: String) -> JWTProfile? { running.withLockedValue { $0.profiles.jwt[name] } }

    /// The version label of the configuration being served.
    var configVersion: String { snapshots.current.version }

    /// The outcome of the last reload, if there was one.
    var lastReload: ReloadOutcome? { running.withLockedValue { $0.lastReload } }

    /// Stops accepting, lets in-flight requests finish for up to `grace`, then closes
    /// what is left and releases the event loops (when this gateway created them).
    public func shutdown(grace: Duration) async {
        ready.withLockedValue { $0 = false }
        logger.info("draining", metadata: ["connections": "\(tracker.count)"])
        let (channels, profiles) = running.withLockedValue { ($0.listeners.values.map(\.channel), $0.profiles) }
        for channel in channels { try? await channel.close() }
        try? await adminChannel.close()
        tracker.quiesceAll()
        // Wait for the last connection to close, or the grace period to end; then close
        // the rest (which also lets the drain wait end).
        let tracker = tracker
        let logger = logger
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await tracker.drained() }
            group.addTask { try? await Task.sleep(for: grace) }
            await group.next()
            if tracker.count > 0 {
                logger.warning("grace period over, closing connections", metadata: ["connections": "\(tracker.count)"])
                tracker.closeAll()
            }
            group.cancelAll()
        }
        profiles.stop()
        // Revocations made here and not yet written go to the fleet before the store's loops end.
        await fleet?.flush(within: .seconds(2))
        if let runner = fleetRunner.withLockedValue({ $0.take() }) {
            runner.cancel()
            await runner.value
        }
        await controlPlane.shutdown()
        try? await httpClient.shutdown()
        try? await introspectionHTTPClient.shutdown()
        await pools.closeAllIdle()
        telemetry.accessLog.flush()
        if ownsGroup { try? await group.shutdownGracefully() }
        logger.info("stopped")
    }
}

/// A listener address that could not be bound.
struct ListenerBindError: Error, CustomStringConvertible {
    var listener: String
    var address: BindAddress
    var underlying: String
    var description: String { "\(listener): cannot listen on \(address): \(underlying)" }
}
