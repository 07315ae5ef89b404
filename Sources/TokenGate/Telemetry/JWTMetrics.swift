import NIOConcurrencyHelpers
import Prometheus

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
