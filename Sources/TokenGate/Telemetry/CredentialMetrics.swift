import NIOConcurrencyHelpers
import Prometheus

/// A credential profile's counters.
struct CredentialMetrics: Sendable {
    let profile: String
    let registry: PrometheusCollectorRegistry

    /// Counts a token request by outcome (`success` or the error's kind).
    /// A shared profile's token taken from the fleet's store (another replica asked for it).
    func sharedTokenTaken() {
        registry.makeCounter(descriptor: MetricName.sharedTokensTaken, labels: [("profile", profile)]).increment()
    }

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
