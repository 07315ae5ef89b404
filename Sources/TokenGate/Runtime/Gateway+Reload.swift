import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import UnixSignals

extension Gateway {
    /// Reads the configuration file again and, only if it is completely valid (decoded,
    /// validated, secrets resolved, snapshot built, new listener addresses bound), swaps it
    /// in atomically. Requests in flight finish on the snapshot they started with.
    /// Credential, introspection and JWT profiles whose settings did not change keep
    /// their tokens, keys and caches; changed or removed ones are dropped. A failed reload changes
    /// nothing and is logged (every error with its JSON path) and shown in `/status`.
    @discardableResult
    func reload(trigger: String) async -> ReloadOutcome {
        let outcome = await reloads.reload(trigger: trigger)
        telemetry.metrics.reloaded(succeeded: outcome.succeeded)
        return outcome
    }

    /// `reload(trigger:)` for a caller that must not wait, such as a handler on an event
    /// loop (`POST /reload`): the reload is queued and `answer` gets its outcome.
    func requestReload(trigger: String, then answer: @escaping @Sendable (ReloadOutcome) -> Void) {
        let metrics = telemetry.metrics
        reloads.submit(trigger: trigger) { outcome in
            metrics.reloaded(succeeded: outcome.succeeded)
            answer(outcome)
        }
    }

    /// One reload, run by the `ReloadWorker` (never two at once).
    func performReload(trigger: String) async -> ReloadOutcome {
        let current = running.withLockedValue { $0 }
        var outcome = ReloadOutcome(trigger: trigger, time: WallClock.secondsSinceEpoch(), succeeded: false, version: current.loaded.version, errors: [])
        defer { running.withLockedValue { $0.lastReload = outcome } }
        guard let path = current.loaded.source else {
            outcome.errors = ["(document): this configuration did not come from a file"]
            return outcome
        }
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader(resolver: resolver).load(path: path)
        } catch {
            outcome.errors = error.issues.map(\.description)
            logRefused(outcome)
            for issue in error.issues { logger.error("configuration error", metadata: ["path": "\(issue.path)", "detail": "\(issue.message)"]) }
            return outcome
        }
        if loaded.version == current.loaded.version {
            outcome.succeeded = true
            return outcome
        }
        if loaded.config.admin.address != current.loaded.config.admin.address {
            outcome.errors = ["admin.address: the admin listener cannot move without a restart"]
            logRefused(outcome)
            return outcome
        }

        if loaded.config.store != current.loaded.config.store {
            // The store's connections and what was read from it stay; a new store needs a start.
            logger.warning("store changes take effect at the next restart; the running store stays", metadata: ["trigger": "\(trigger)"])
        }
        if loaded.config.workers != current.loaded.config.workers {
            // Event loops hold every connection: the number changes at the next start only.
            logger.warning("workers changes take effect at the next restart; the running number stays", metadata: [
                "trigger": "\(trigger)", "workers": "\(loaded.config.workers.map(String.init) ?? "auto")",
            ])
        }

        // Profiles: keep the live object (and its token or cache) when nothing changed.
        let metrics = telemetry.metrics
        let (profiles, started) = current.profiles.reconciled(with: loaded.config, resolver: resolver, metrics: metrics)
        let snapshot: ConfigSnapshot
        do {
            snapshot = try ConfigSnapshot(loaded, profiles: profiles, metrics: metrics, previous: snapshots.current, revocations: tokenRevocations)
        } catch {
            outcome.errors = error.issues.map(\.description)
            logRefused(outcome)
            return outcome
        }

        // TLS listeners' files: read before anything changes (a bad pair refuses the reload).
        let servingCertificates: [String: ServingCertificate]
        switch certificates.prepared(for: loaded.config.listeners) {
        case .success(let made): servingCertificates = made
        case .failure(let problem):
            outcome.errors = problem.issues.map(\.description)
            logRefused(outcome)
            return outcome
        }

        // Listeners: bind what is new or moved first; if any fails, undo and keep the old.
        var listeners: [String: (address: BindAddress, channel: any Channel)] = [:]
        var newlyBound: [any Channel] = []
        for listener in loaded.config.listeners {
            if let existing = current.listeners[listener.name], existing.address == listener.address {
                listeners[listener.name] = existing
                continue
            }
            do {
                let channel = try await Gateway.bindListener(
                    listener, snapshots: snapshots, pools: pools, group: group, tracker: tracker, logger: logger, telemetry: telemetry,
                    certificates: certificates
                )
                listeners[listener.name] = (listener.address, channel)
                newlyBound.append(channel)
            } catch {
                for channel in newlyBound { try? await channel.close() }
                outcome.errors = ["listeners.\(listener.name).address: \(error)"]
                logRefused(outcome)
                return outcome
            }
        }

        // Commit: one swap; then retire what the new configuration no longer uses.
        certificates.replace(with: servingCertificates)
        snapshots.replace(with: snapshot)
        running.withLockedValue {
            $0.loaded = loaded
            $0.listeners = listeners
            $0.profiles = profiles
        }
        await startLoops(of: started)
        for (name, old) in current.listeners where listeners[name]?.channel !== old.channel {
            // Stops accepting; connections accepted there finish their exchange and close,
            // since the new configuration's rules were checked for other addresses.
            try? await old.channel.close()
            if let config = current.loaded.config.listeners.first(where: { $0.name == name }) {
                tracker.quiesceAll(listener: ProxyListener.trackingName(config))
            }
        }
        current.profiles.retired(keeping: profiles).stop()
        for channel in newlyBound {
            logger.info("listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        }
        outcome.succeeded = true
        outcome.version = loaded.version
        metrics.configLoaded(version: loaded.version)
        logger.info("configuration reloaded", metadata: ["trigger": "\(trigger)", "version": "\(loaded.version)"])
        return outcome
    }

    /// The one log line of a refused reload, whatever refused it: the trigger, how many
    /// problems there are and the first (every one is in the outcome, for `/status` and the
    /// caller of `POST /reload`). Problems name JSON paths and settings, never a secret.
    private func logRefused(_ outcome: ReloadOutcome) {
        var metadata: Logger.Metadata = ["trigger": "\(outcome.trigger)", "errors": "\(outcome.errors.count)"]
        if let first = outcome.errors.first { metadata["detail"] = .string(first) }
        logger.error("reload refused; the running configuration stays", metadata: metadata)
    }
}

/// Runs a gateway inside a `ServiceGroup`: serves until graceful shutdown (SIGTERM,
/// SIGINT) and drains within the configured grace period; SIGHUP and a change of the
/// configuration file reload it.
public struct GatewayService: Service, CustomStringConvertible {
    let loaded: LoadedConfig
    let logger: Logger
    let resolver: SecretResolver
    let watch: Bool
    let telemetry: Telemetry

    /// `watch`: reload when the configuration file changes (default true).
    public init(
        loaded: LoadedConfig, logger: Logger, resolver: SecretResolver = .processEnvironment(), watch: Bool = true,
        telemetry: Telemetry = Telemetry()
    ) {
        self.loaded = loaded
        self.logger = logger
        self.resolver = resolver
        self.watch = watch
        self.telemetry = telemetry
    }

    /// What service lifecycle logs: the configuration's source and version, nothing it holds.
    public var description: String { "GatewayService(config: \(loaded.source ?? "(document)") \(loaded.version))" }

    public func run() async throws {
        let gateway = try await Gateway.start(loaded, logger: logger, resolver: resolver, watch: watch, telemetry: telemetry)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    await gateway.reload(trigger: "SIGHUP")
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        let grace = gateway.running.withLockedValue { $0.loaded.config.shutdown.grace }
        await gateway.shutdown(grace: grace)
    }
}
