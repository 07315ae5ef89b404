import NIOConcurrencyHelpers
import Prometheus

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
