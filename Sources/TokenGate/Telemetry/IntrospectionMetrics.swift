import NIOConcurrencyHelpers
import Prometheus

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
