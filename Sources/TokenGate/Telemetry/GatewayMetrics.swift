import NIOConcurrencyHelpers
import Prometheus

/// The gateway's Prometheus metrics, served at the admin listener's `/metrics`.
///
/// One registry per running gateway (so two gateways in one process, as in tests, count
/// apart). Counters and histograms are updated where things happen; what is a state
/// rather than an event (seconds until a token expires, cache sizes, open connections)
/// is read when `/metrics` is scraped (`GatewayMetrics.exposition(updating:)`).
///
/// Label values are route, listener and profile names from `gateway.json` and fixed
/// words: never a path, a header value, a token or a secret.
public final class GatewayMetrics: Sendable {
    /// The registry `/metrics` renders; `tokengate run` also hands it to swift-metrics.
    public let registry: PrometheusCollectorRegistry
    private let routes = NIOLockedValueBox<[RouteMetrics.Key: RouteMetrics]>([:])
    /// Gauges set at scrape time, by name and label value, so that those of profiles and
    /// listeners a reload removed can be taken out.
    private let scrapeGauges = NIOLockedValueBox<[String: Gauge]>([:])
    private let configInfo = NIOLockedValueBox<Gauge?>(nil)
    private let reloadsSucceeded: Counter
    private let reloadsFailed: Counter

    /// Latency buckets from 0.5 ms (a cache hit through the gateway) to a minute.
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        reloadsSucceeded = registry.makeCounter(descriptor: MetricName.configReloads, labels: [("outcome", "success")])
        reloadsFailed = registry.makeCounter(descriptor: MetricName.configReloads, labels: [("outcome", "failure")])
        registry.makeGauge(descriptor: MetricName.buildInfo, labels: [("version", TokenGateVersion.current)]).set(to: 1)
    }

    /// The per-route instruments; `route` is "" for requests no route matched.
    func route(listener: String, route: String) -> RouteMetrics {
        let key = RouteMetrics.Key(listener: listener, route: route)
        return routes.withLockedValue { routes in
            if let existing = routes[key] { return existing }
            let made = RouteMetrics(key: key, registry: registry)
            routes[key] = made
            return made
        }
    }

    func credential(_ profile: String) -> CredentialMetrics { CredentialMetrics(profile: profile, registry: registry) }

    func introspection(_ profile: String) -> IntrospectionMetrics { IntrospectionMetrics(profile: profile, registry: registry) }

    func jwt(_ profile: String) -> JWTMetrics { JWTMetrics(profile: profile, registry: registry) }

    func login(_ profile: String) -> LoginMetrics { LoginMetrics(profile: profile, registry: registry) }

    /// Counts a connection closed at accept because its listener was full (`max_connections`).
    func connectionRefused(listener: String) {
        registry.makeCounter(descriptor: MetricName.connectionsRefused, labels: [("listener", listener)]).increment()
    }

    /// Counts a reload attempt (`configLoaded` labels a new version).
    func reloaded(succeeded: Bool) {
        (succeeded ? reloadsSucceeded : reloadsFailed).increment()
    }

    /// `tokengate_config_info{version="…"} 1`: the loaded configuration's fingerprint.
    func configLoaded(version: String) {
        let gauge = registry.makeGauge(descriptor: MetricName.configInfo, labels: [("version", version)])
        gauge.set(to: 1)
        let previous = configInfo.withLockedValue { box -> Gauge? in
            defer { box = gauge }
            return box
        }
        if let previous, previous !== gauge { registry.unregisterGauge(previous) }
    }

    /// Values read at scrape time, one per label value; gauges of label values that are gone
    /// are unregistered.
    struct ScrapeGauge {
        var descriptor: MetricNameDescriptor
        /// The label's name; "" for a gauge without labels (one value).
        var label: String
        var values: [(labelValue: String, value: Double)]
    }

    /// The exposition text, after setting `gauges` to their current values.
    func exposition(updating gauges: [ScrapeGauge]) -> String {
        scrapeGauges.withLockedValue { registered in
            var seen = Set<String>()
            for gauge in gauges {
                for entry in gauge.values {
                    let key = gauge.descriptor.name + "\u{0}" + entry.labelValue
                    seen.insert(key)
                    let handle: Gauge
                    if let existing = registered[key] {
                        handle = existing
                    } else {
                        handle = gauge.label.isEmpty
                            ? registry.makeGauge(descriptor: gauge.descriptor)
                            : registry.makeGauge(descriptor: gauge.descriptor, labels: [(gauge.label, entry.labelValue)])
                        registered[key] = handle
                    }
                    handle.set(to: entry.value)
                }
            }
            for (key, handle) in registered where !seen.contains(key) {
                registry.unregisterGauge(handle)
                registered.removeValue(forKey: key)
            }
        }
        var text = registry.emitToString()
        // The duration histograms are the gateway's own (`LatencyHistogram`), rendered here
        // as one family each.
        let all = routes.withLockedValue { Array($0.values) }.sorted { ($0.key.listener, $0.key.route) < ($1.key.listener, $1.key.route) }
        for (descriptor, histogram) in [(MetricName.requestDuration, \RouteMetrics.requestDuration), (MetricName.upstreamDuration, \RouteMetrics.upstreamDuration)] {
            let name = "\(descriptor.namespace.map { $0 + "_" } ?? "")\(descriptor.metricName)\(descriptor.unitName.map { "_" + $0 } ?? "")"
            if let help = descriptor.helpText { text += "# HELP \(name) \(help)\n" }
            text += "# TYPE \(name) histogram\n"
            for route in all { route[keyPath: histogram].render(name: name, into: &text) }
        }
        return text
    }
}

/// A route's instruments, created once per (listener, route) and kept by the compiled
/// route, so a request touches no dictionary: a counter picked from a small array under
/// a short lock, then an atomic add, and two histogram records.
final class RouteMetrics: Sendable {
    struct Key: Hashable, Sendable {
        var listener: String
        var route: String
    }

    /// Methods with a label of their own; the rest count as `OTHER`.
    static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"]
    static let statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"]

    let key: Key
    private let registry: PrometheusCollectorRegistry
    /// Request counters by method × status class, made on first use (most routes see
    /// a handful of the 40 combinations).
    private let requests: NIOLockedValueBox<[Counter?]>
    let requestDuration: LatencyHistogram
    let upstreamDuration: LatencyHistogram

    init(key: Key, registry: PrometheusCollectorRegistry) {
        self.key = key
        self.registry = registry
        self.requests = NIOLockedValueBox(Array(repeating: nil, count: Self.methods.count * Self.statusClasses.count))
        let labels = [("listener", key.listener), ("route", key.route)]
        requestDuration = LatencyHistogram(labels: labels, bounds: GatewayMetrics.durationBuckets)
        upstreamDuration = LatencyHistogram(labels: labels, bounds: GatewayMetrics.durationBuckets)
    }

    /// Counts one answered request.
    func count(method: String, status: Int) {
        let methodIndex = Self.methods.firstIndex(of: method) ?? Self.methods.count - 1
        let classIndex = min(max(status / 100, 1), 5) - 1
        let slot = methodIndex * Self.statusClasses.count + classIndex
        let counter = requests.withLockedValue { counters -> Counter in
            if let existing = counters[slot] { return existing }
            let made = registry.makeCounter(
                descriptor: MetricName.requests,
                labels: [("listener", key.listener), ("route", key.route), ("method", Self.methods[methodIndex]), ("status", Self.statusClasses[classIndex])]
            )
            counters[slot] = made
            return made
        }
        counter.increment()
    }

    enum UpstreamErrorKind: String {
        case connect, timeout, reset
    }

    /// Counts an upstream failure (rare: the registry's own lookup is cheap enough).
    func upstreamError(_ kind: UpstreamErrorKind) {
        registry.makeCounter(
            descriptor: MetricName.upstreamErrors, labels: [("listener", key.listener), ("route", key.route), ("kind", kind.rawValue)]
        ).increment()
    }

    /// Counts `Set-Cookie` fields of an upstream's response that named the gateway's own
    /// cookies and were dropped (rare: an app or an attack, looked up when it happens).
    func droppedGatewayCookies(_ count: Int) {
        registry.makeCounter(
            descriptor: MetricName.droppedGatewayCookies, labels: [("listener", key.listener), ("route", key.route)]
        ).increment(by: Int64(count))
    }
}

/// A credential profile's counters.
struct CredentialMetrics: Sendable {
    let profile: String
    let registry: PrometheusCollectorRegistry

    /// Counts a token request by outcome (`success` or the error's kind).
    func tokenRequest(_ outcome: String) {
        registry.makeCounter(descriptor: MetricName.tokenRequests, labels: [("profile", profile), ("outcome", outcome)]).increment()
        if outcome != "success" {
            registry.makeCounter(descriptor: MetricName.tokenRefreshFailures, labels: [("profile", profile)]).increment()
        }
    }

    /// Counts a token dropped because an upstream refused it (a forced refresh).
    func forcedRefresh() {
        registry.makeCounter(descriptor: MetricName.forcedRefreshes, labels: [("profile", profile)]).increment()
    }
}

/// An introspection profile's counters; hits are counted on the hot path (one atomic add).
struct IntrospectionMetrics: Sendable {
    let hits: Counter
    let misses: Counter
    let evictions: Counter
    private let profile: String
    private let registry: PrometheusCollectorRegistry

    init(profile: String, registry: PrometheusCollectorRegistry) {
        self.profile = profile
        self.registry = registry
        let labels = [("profile", profile)]
        hits = registry.makeCounter(descriptor: MetricName.cacheHits, labels: labels)
        misses = registry.makeCounter(descriptor: MetricName.cacheMisses, labels: labels)
        evictions = registry.makeCounter(descriptor: MetricName.cacheEvictions, labels: labels)
    }

    /// Counts an introspection call: `active`, `inactive` or `error`.
    func call(_ outcome: String) {
        registry.makeCounter(descriptor: MetricName.introspectionRequests, labels: [("profile", profile), ("outcome", outcome)]).increment()
    }
}

/// A JWT profile's counters; cache hits are counted on the hot path (one atomic add).
struct JWTMetrics: Sendable {
    let hits: Counter
    private let profile: String
    private let registry: PrometheusCollectorRegistry

    init(profile: String, registry: PrometheusCollectorRegistry) {
        self.profile = profile
        self.registry = registry
        hits = registry.makeCounter(descriptor: MetricName.jwtCacheHits, labels: [("profile", profile)])
    }

    /// Counts a token checked in full (signature and claims): `valid`, `invalid`,
    /// `unknown_key` or `unavailable` (no key set yet).
    func validation(_ outcome: String) {
        registry.makeCounter(descriptor: MetricName.jwtValidations, labels: [("profile", profile), ("outcome", outcome)]).increment()
    }

    /// Counts a discovery-and-JWKS fetch: `success` or `error`.
    func fetch(_ outcome: String) {
        registry.makeCounter(descriptor: MetricName.jwksFetches, labels: [("profile", profile), ("outcome", outcome)]).increment()
    }
}

/// A login profile's counters (rare events: each made when counted).
struct LoginMetrics: Sendable {
    private let profile: String
    private let registry: PrometheusCollectorRegistry

    init(profile: String, registry: PrometheusCollectorRegistry) {
        self.profile = profile
        self.registry = registry
    }

    /// A browser sent to the provider.
    func started() { registry.makeCounter(descriptor: MetricName.loginsStarted, labels: [("profile", profile)]).increment() }

    /// A callback's outcome: `success`, `provider_error`, `state_invalid`, `exchange_failed`,
    /// `id_token_invalid`.
    func completed(_ outcome: String) {
        registry.makeCounter(descriptor: MetricName.loginsCompleted, labels: [("profile", profile), ("outcome", outcome)]).increment()
    }

    /// A session refresh: `success`, `refused` (the session ended) or `error`.
    func refresh(_ outcome: String) {
        registry.makeCounter(descriptor: MetricName.loginRefreshes, labels: [("profile", profile), ("outcome", outcome)]).increment()
    }

    /// A logout: `local`, `provider` (RP-initiated) or `backchannel`.
    func logout(_ kind: String) {
        registry.makeCounter(descriptor: MetricName.logouts, labels: [("profile", profile), ("kind", kind)]).increment()
    }
}

/// Every metric the gateway exports: `tokengate_` names with units, and their help text.
/// (Computed: the descriptor type is not `Sendable`.)
enum MetricName {
    private static func tokengate(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "tokengate", metricName: name, unitName: unit, helpText: help)
    }

    static var requests: MetricNameDescriptor {
        tokengate("requests", unit: "total", "Requests answered, by listener, route (empty: no route matched), method and status class.")
    }
    static var requestDuration: MetricNameDescriptor {
        tokengate("request_duration", unit: "seconds", "Time from a request's head arriving to the end of its response, by route.")
    }
    static var upstreamDuration: MetricNameDescriptor {
        tokengate("upstream_duration", unit: "seconds", "Time from asking for an upstream connection to the end of the upstream's response, by route.")
    }
    static var upstreamErrors: MetricNameDescriptor {
        tokengate("upstream_errors", unit: "total", "Upstream failures by route and kind: connect (refused, unreachable), timeout (connect, response header, idle), reset (closed mid-exchange).")
    }
    static var droppedGatewayCookies: MetricNameDescriptor {
        tokengate("upstream_gateway_cookies_dropped", unit: "total", "Set-Cookie fields of upstream responses that named the gateway's own cookies (tg-, __Host-tg-, __Secure-tg-), dropped, by route.")
    }
    static var tokenRequests: MetricNameDescriptor {
        tokengate("token_requests", unit: "total", "Token endpoint requests by credential profile and outcome.")
    }
    static var forcedRefreshes: MetricNameDescriptor {
        tokengate("token_forced_refreshes", unit: "total", "Tokens dropped because an upstream answered 401 invalid_token, by profile.")
    }

    static var tokenRefreshFailures: MetricNameDescriptor {
        tokengate("token_refresh_failures", unit: "total", "Failed attempts to obtain or refresh a credential profile's token.")
    }
    static var tokenValid: MetricNameDescriptor {
        tokengate("token_valid", "1 when the credential profile holds a token that has not expired.")
    }
    static var tokenExpiresIn: MetricNameDescriptor {
        tokengate("token_expires_in", unit: "seconds", "Seconds until the credential profile's token expires (0 without a token).")
    }
    static var tokenBackoff: MetricNameDescriptor {
        tokengate("token_backoff", "1 while the credential profile waits to retry after a failed token request.")
    }
    static var tokenConsecutiveFailures: MetricNameDescriptor {
        tokengate("token_consecutive_failures", "Token requests failed in a row for the credential profile.")
    }
    static var introspectionRequests: MetricNameDescriptor {
        tokengate("introspection_requests", unit: "total", "Introspection endpoint calls by profile and outcome (active, inactive, error).")
    }
    static var cacheHits: MetricNameDescriptor {
        tokengate("introspection_cache_hits", unit: "total", "Tokens answered from the introspection cache.")
    }
    static var cacheMisses: MetricNameDescriptor {
        tokengate("introspection_cache_misses", unit: "total", "Tokens not in the introspection cache (a call was made or joined).")
    }
    static var cacheEvictions: MetricNameDescriptor {
        tokengate("introspection_cache_evictions", unit: "total", "Introspection cache entries dropped to make room (least recently used first).")
    }
    static var cacheEntries: MetricNameDescriptor {
        tokengate("introspection_cache_entries", "Entries in the introspection profile's cache.")
    }
    static var jwtValidations: MetricNameDescriptor {
        tokengate("jwt_validations", unit: "total", "JWTs checked in full (signature and claims) by profile and outcome (valid, invalid, unknown_key, unavailable).")
    }
    static var jwtCacheHits: MetricNameDescriptor {
        tokengate("jwt_cache_hits", unit: "total", "JWTs answered from the verified-token cache, without a signature check.")
    }
    static var jwksFetches: MetricNameDescriptor {
        tokengate("jwks_fetches", unit: "total", "Key set fetches (with discovery when configured) by profile and outcome (success, error).")
    }
    static var jwksKeys: MetricNameDescriptor {
        tokengate("jwks_keys", "Keys of the JWT profile's key set in use (0 until one was fetched).")
    }
    static var loginsStarted: MetricNameDescriptor {
        tokengate("logins_started", unit: "total", "Browsers sent to the provider to log in, by login profile.")
    }
    static var loginsCompleted: MetricNameDescriptor {
        tokengate("logins_completed", unit: "total", "Login callbacks by profile and outcome (success, provider_error, state_invalid, exchange_failed, id_token_invalid).")
    }
    static var loginRefreshes: MetricNameDescriptor {
        tokengate("login_refreshes", unit: "total", "Session access-token refreshes by profile and outcome (success, refused, error).")
    }
    static var logouts: MetricNameDescriptor {
        tokengate("logouts", unit: "total", "Logouts by profile and kind (local, provider, backchannel).")
    }
    static var configReloads: MetricNameDescriptor {
        tokengate("config_reloads", unit: "total", "Configuration reloads (SIGHUP, file change, POST /reload) by outcome.")
    }
    static var configInfo: MetricNameDescriptor {
        tokengate("config_info", "The fingerprint of the configuration being served (value always 1).")
    }
    static var buildInfo: MetricNameDescriptor {
        tokengate("build_info", "The running TokenGate version (value always 1).")
    }
    static var openConnections: MetricNameDescriptor {
        tokengate("open_connections", "Open client connections (proxy and admin listeners).")
    }
    static var listenerConnections: MetricNameDescriptor {
        tokengate("listener_connections", "Open client connections by listener (`admin` for the admin listener).")
    }
    static var connectionsRefused: MetricNameDescriptor {
        tokengate("connections_refused", unit: "total", "Client connections closed as they were accepted because their listener had max_connections open.")
    }
    static var processStartTime: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "process", metricName: "start_time", unitName: "seconds", helpText: "Start time of the process since the Unix epoch in seconds.")
    }
    static var processResidentMemory: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "process", metricName: "resident_memory", unitName: "bytes", helpText: "Resident memory size in bytes.")
    }
}
