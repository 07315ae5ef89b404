#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// What the admin listener shows: `/status` for people and `tokengate status`, `/metrics`
// for Prometheus. Both show names, states and counts, never a token or a secret: the
// token state they read has `Redacted` values, which they do not print.
extension Gateway {
    /// `/status` as JSON (`GatewayStatusDocument`).
    var statusJSON: String { statusDocument.json }

    /// `/status`: version, configuration and last reload, listeners, routes, each
    /// credential profile's token state, each introspection cache, each JWT profile's keys
    /// and cache, and each login profile.
    var statusDocument: GatewayStatusDocument {
        let (loaded, last, listeners, profiles) = running.withLockedValue { ($0.loaded, $0.lastReload, $0.listeners, $0.profiles) }
        let config = loaded.config
        let now = ContinuousClock.now
        let wallNow = WallClock.secondsSinceEpoch()
        let bound: [GatewayStatusDocument.Listener] = config.listeners.map { listener in
            // The bound address (port 0 resolved), printed like the configuration's (`[v6]:port`).
            let address = listeners[listener.name]?.channel.localAddress.map { BindAddress(host: $0.ipAddress ?? listener.address.host, port: $0.port ?? 0) }
            let tls = certificates.certificate(for: listener.name).map { certificate in
                GatewayStatusDocument.TLS(certificateExpiresAt: JSONLogHandler.timestamp(epochSeconds: Int(truncatingIfNeeded: certificate.expiresAt)), problem: certificate.problem)
            }
            return GatewayStatusDocument.Listener(
                name: listener.name, address: (address ?? listener.address).description,
                protocols: listener.speaksHTTP2 ? ["http/1.1", "h2"] : ["http/1.1"], tls: tls
            )
        }
        let routes: [GatewayStatusDocument.Route] = config.routes.map { GatewayStatusDocument.Route($0) }
        let credentials: [GatewayStatusDocument.Credential] = config.credentials.compactMap { profile in
            profiles.credentials[profile.name].map { GatewayStatusDocument.Credential($0, now: now, wallNow: wallNow) }
        }
        let introspection: [GatewayStatusDocument.Introspection] = config.introspection.compactMap { profile in
            profiles.introspection[profile.name].map { GatewayStatusDocument.Introspection($0) }
        }
        let jwt: [GatewayStatusDocument.JWT] = config.jwt.compactMap { profile in
            profiles.jwt[profile.name].map { GatewayStatusDocument.JWT($0) }
        }
        let login: [GatewayStatusDocument.Login] = config.login.compactMap { profile in
            profiles.login[profile.name].map { GatewayStatusDocument.Login($0) }
        }
        return GatewayStatusDocument(
            version: TokenGateVersion.current, configVersion: loaded.version, configFile: loaded.source,
            startedAt: JSONLogHandler.timestamp(epochSeconds: startedAt), lastReload: last.map { GatewayStatusDocument.Reload($0) },
            openConnections: tracker.count, workers: group.makeIterator().reduce(0) { count, _ in count + 1 },
            listeners: bound, routes: routes, credentials: credentials, introspection: introspection, jwt: jwt, login: login,
            store: fleet.map { fleet in
                let status = fleet.status
                return GatewayStatusDocument.Store(
                    up: status.up, readOnly: status.readOnly, problem: status.problem, pendingRevocations: status.pending,
                    lastSyncAt: status.lastSync.map { JSONLogHandler.timestamp(epochSeconds: $0) }, schemaVersion: status.schemaVersion,
                    requiredForReadiness: fleet.config.requiredForReadiness
                )
            },
            revokedTokens: { tokenRevocations.sweep(now: wallNow); return tokenRevocations.inForce }()
        )
    }

    /// `/metrics`: counters as they stand, and the states read now.
    var metricsText: String {
        let profiles = running.withLockedValue { $0.profiles }
        let introspection = Array(profiles.introspection.values)
        let jwt = Array(profiles.jwt.values)
        let now = ContinuousClock.now
        let states = profiles.credentials.values.map { ($0.name, $0.state) }
        typealias Gauge = GatewayMetrics.ScrapeGauge
        var gauges = [
            Gauge(descriptor: MetricName.tokenValid, label: "profile", values: states.map { ($0.0, $0.1.usableToken(at: now) == nil ? 0 : 1) }),
            Gauge(descriptor: MetricName.tokenExpiresIn, label: "profile",
                  values: states.map { ($0.0, $0.1.usableToken(at: now).map { Double(Self.seconds($0.expiresAt - now)) } ?? 0) }),
            Gauge(descriptor: MetricName.tokenBackoff, label: "profile", values: states.map { ($0.0, $0.1.retryAt.map { $0 > now ? 1 : 0 } ?? 0) }),
            Gauge(descriptor: MetricName.tokenConsecutiveFailures, label: "profile", values: states.map { ($0.0, Double($0.1.consecutiveFailures)) }),
            Gauge(descriptor: MetricName.cacheEntries, label: "profile", values: introspection.map { ($0.name, Double($0.statistics.size)) }),
            Gauge(descriptor: MetricName.jwksKeys, label: "profile", values: jwt.map { ($0.name, Double($0.status.keys.count)) }),
            Gauge(descriptor: MetricName.openConnections, label: "", values: [("", Double(tracker.count))]),
            Gauge(descriptor: MetricName.listenerConnections, label: "listener", values: Self.connectionsByListener(tracker.perListener)),
            Gauge(descriptor: MetricName.processStartTime, label: "", values: [("", Double(startedAt))]),
            Gauge(descriptor: MetricName.revokedTokens, label: "", values: [("", Double(tokenRevocations.inForce))]),
            Gauge(descriptor: MetricName.listenerCertificateExpiry, label: "listener",
                  values: certificates.all.map { ($0.listener, Double($0.certificate.expiresAt)) }),
        ]
        if let fleet {
            gauges.append(Gauge(descriptor: MetricName.storePendingRevocations, label: "", values: [("", Double(fleet.status.pending))]))
        }
        if let resident = Self.residentMemoryBytes() {
            gauges.append(Gauge(descriptor: MetricName.processResidentMemory, label: "", values: [("", Double(resident))]))
        }
        return telemetry.metrics.exposition(updating: gauges)
    }

    /// Open connections by listener name: the tracker names proxy connections
    /// `name@address`, and during a reload that moves a listener both addresses count.
    static func connectionsByListener(_ tracked: [String: Int]) -> [(String, Double)] {
        var byName: [String: Int] = [:]
        for (key, open) in tracked {
            let name = key.split(separator: "@", maxSplits: 1).first.map(String.init) ?? key
            byName[name, default: 0] += open
        }
        return byName.sorted { $0.key < $1.key }.map { ($0.key, Double($0.value)) }
    }

    /// Whole seconds in `duration`, rounded down.
    static func seconds(_ duration: Duration) -> Int { Int(duration.components.seconds) }

    /// The process's resident set from `/proc/self/statm` (Linux); nil elsewhere.
    static func residentMemoryBytes() -> Int? {
        guard let bytes = try? FileReader.readAll(path: "/proc/self/statm", limit: 4096) else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
