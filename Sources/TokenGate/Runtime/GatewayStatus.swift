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
    /// `/status`: version, configuration and last reload, listeners, routes, each
    /// credential profile's token state, each introspection cache, and each JWT profile's
    /// keys and cache.
    var statusJSON: String {
        let (loaded, last, listeners, profiles, introspection, jwt, login) = running.withLockedValue {
            ($0.loaded, $0.lastReload, $0.listeners, $0.profiles, $0.introspection, $0.jwt, $0.login)
        }
        let config = loaded.config
        let now = ContinuousClock.now
        let wallNow = WallClock.secondsSinceEpoch()

        var root = JSONObject()
        root.add("version", TokenGateVersion.current)
        root.add("config_version", loaded.version)
        root.add("config_file", loaded.source)
        root.add("started_at", JSONLogHandler.timestamp(epochSeconds: startedAt))
        root.addRaw("last_reload", last?.json ?? "null")
        root.add("open_connections", tracker.count)
        // The running number of event-loop threads (a change to `workers` waits for a restart).
        root.add("workers", group.makeIterator().reduce(0) { count, _ in count + 1 })
        root.addRaw("listeners", JSONObject.array(config.listeners.map { listener in
            var entry = JSONObject()
            entry.add("name", listener.name)
            // The bound address (port 0 resolved), printed like the configuration's (`[v6]:port`).
            let bound = listeners[listener.name]?.channel.localAddress.map { BindAddress(host: $0.ipAddress ?? listener.address.host, port: $0.port ?? 0) }
            entry.add("address", (bound ?? listener.address).description)
            return entry
        }))
        root.addRaw("routes", JSONObject.array(config.routes.map { route in
            var entry = JSONObject()
            entry.add("name", route.name)
            entry.add("listener", route.listener)
            entry.add("path_prefix", route.pathPrefix)
            entry.add("host", route.host)
            entry.add("upstream", route.upstream.description)
            entry.add("credential", route.credential)
            entry.add("introspection", route.validate?.introspection)
            entry.add("jwt", route.validate?.jwt)
            entry.add("login", route.login)
            return entry
        }))
        root.addRaw("credentials", JSONObject.array(config.credentials.compactMap { profile in
            guard let live = profiles[profile.name] else { return nil }
            let state = live.state
            var entry = JSONObject()
            entry.add("name", profile.name)
            entry.add("grant", profile.grant.rawValue)
            entry.add("token_url", profile.tokenURL.description)
            let token = state.usableToken(at: now)
            entry.add("has_token", token != nil)
            entry.add("expires_in_seconds", token.map { Self.seconds($0.expiresAt - now) })
            entry.add("refresh_in_seconds", token.map { max(0, Self.seconds($0.refreshAt - now)) })
            entry.add("scope", token?.scope)
            entry.add("last_refresh_at", state.lastSuccess.map { JSONLogHandler.timestamp(epochSeconds: wallNow - Self.seconds(now - $0)) })
            entry.add("refreshing", state.fetching)
            entry.add("consecutive_failures", state.consecutiveFailures)
            entry.add("last_error", state.lastError?.detail)
            entry.add("next_retry_in_seconds", state.retryAt.flatMap { $0 > now ? Self.seconds($0 - now) : nil })
            return entry
        }))
        root.addRaw("introspection", JSONObject.array(config.introspection.compactMap { profile in
            guard let live = introspection[profile.name] else { return nil }
            let stats = live.statistics
            var entry = JSONObject()
            entry.add("name", profile.name)
            entry.add("url", profile.url.description)
            entry.add("cache_entries", stats.size)
            entry.add("cache_capacity", profile.maxEntries)
            entry.add("inactive_entries", stats.inactive)
            entry.add("inactive_capacity", profile.negativeMaxEntries)
            entry.add("calls_in_flight", stats.inFlight)
            entry.add("max_in_flight", profile.maxInFlight)
            entry.add("hits", stats.hits)
            entry.add("misses", stats.misses)
            entry.add("evictions", stats.evictions)
            let lookups = stats.hits + stats.misses
            entry.add("hit_ratio", lookups == 0 ? nil : Double(stats.hits) / Double(lookups))
            return entry
        }))
        root.addRaw("jwt", JSONObject.array(config.jwt.compactMap { profile in
            guard let live = jwt[profile.name] else { return nil }
            let status = live.status
            var entry = JSONObject()
            entry.add("name", profile.name)
            entry.add("issuer", profile.issuer)
            entry.add("jwks_uri", status.jwksURL)
            entry.addRaw("keys", JSONObject.array(status.keys.map { key in
                var item = JSONObject()
                item.add("kid", key.id)
                item.add("type", key.type)
                item.addRaw("algorithms", JSONObject.strings(key.algorithms))
                return item
            }))
            entry.addRaw("skipped_keys", JSONObject.strings(status.skipped))
            entry.add("last_fetch_at", status.lastFetch.map { JSONLogHandler.timestamp(epochSeconds: $0.time) })
            entry.addRaw("last_fetch_succeeded", status.lastFetch.map { $0.succeeded ? "true" : "false" } ?? "null")
            entry.add("last_fetch_detail", status.lastFetch?.detail)
            entry.add("next_refresh_at", status.nextRefresh.map { JSONLogHandler.timestamp(epochSeconds: $0) })
            entry.add("cache_entries", status.size)
            entry.add("cache_capacity", profile.maxEntries)
            entry.add("hits", status.hits)
            entry.add("misses", status.misses)
            return entry
        }))
        root.addRaw("login", JSONObject.array(config.login.compactMap { profile in
            guard let live = login[profile.name] else { return nil }
            var entry = JSONObject()
            entry.add("name", profile.name)
            entry.add("issuer", profile.issuer)
            entry.add("client_id", profile.clientID)
            entry.addRaw("cookie_key_ids", JSONObject.strings(live.sealer.keys.map(\.id)))
            entry.add("sealing_key_id", live.sealer.sealingKeyID)
            entry.add("session_store", profile.sessionStore.rawValue)
            entry.add("sessions_in_memory", profile.sessionStore == .memory ? live.storedSessions : nil)
            entry.add("authorization_endpoint", live.authorizationEndpoint?.description)
            entry.add("end_session_endpoint", live.endSessionEndpoint?.description)
            entry.add("provider_keys", live.idTokens.status.keys.count)
            return entry
        }))
        return root.text
    }

    /// `/metrics`: counters as they stand, and the states read now.
    var metricsText: String {
        let (profiles, introspection, jwt) = running.withLockedValue {
            (Array($0.profiles.values), Array($0.introspection.values), Array($0.jwt.values))
        }
        let now = ContinuousClock.now
        let states = profiles.map { ($0.name, $0.state) }
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
        ]
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

/// A JSON object written field by field, for the admin answers built by hand.
struct JSONObject {
    private var fields: [String] = []

    mutating func add(_ key: String, _ value: String?) { addRaw(key, value.map(JSONText.quote) ?? "null") }
    mutating func add(_ key: String, _ value: Int?) { addRaw(key, value.map(String.init) ?? "null") }
    mutating func add(_ key: String, _ value: Bool) { addRaw(key, value ? "true" : "false") }
    mutating func add(_ key: String, _ value: Double?) {
        addRaw(key, value.map { ($0 * 1000).rounded() / 1000 }.map { "\($0)" } ?? "null")
    }
    mutating func addRaw(_ key: String, _ json: String) { fields.append("\(JSONText.quote(key)):\(json)") }

    var text: String { "{" + fields.joined(separator: ",") + "}" }

    static func array(_ objects: [JSONObject]) -> String { "[" + objects.map(\.text).joined(separator: ",") + "]" }
    static func strings(_ values: [String]) -> String { "[" + values.map(JSONText.quote).joined(separator: ",") + "]" }
}
