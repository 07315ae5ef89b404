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

    func store() -> StoreMetrics { StoreMetrics(registry: registry) }

    /// Counts a connection closed at accept because its listener was full (`max_connections`).
    /// The counters of one listener's accepted connections by protocol, and of its HTTP/2
    /// streams (made once per listener, bumped once per connection or stream).
    func connectionCounters(listener: String) -> ListenerConnectionCounters {
        ListenerConnectionCounters(
            http1: registry.makeCounter(descriptor: MetricName.connectionsAccepted, labels: [("listener", listener), ("protocol", "http/1.1")]),
            http2: registry.makeCounter(descriptor: MetricName.connectionsAccepted, labels: [("listener", listener), ("protocol", "h2")]),
            http2Streams: registry.makeCounter(descriptor: MetricName.http2Streams, labels: [("listener", listener)])
        )
    }

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
