import Prometheus

/// The fleet store's instruments: whether it is up, its calls by operation and outcome
/// with their latency, and the revocations written.
struct StoreMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        registry.makeGauge(descriptor: MetricName.storeUp).set(to: 0)
    }

    func up(_ isUp: Bool) { registry.makeGauge(descriptor: MetricName.storeUp).set(to: isUp ? 1 : 0) }

    /// A call to the store: `health`, `poll`, `write`, `claim`, `expire` (`ok` or
    /// `error`), or `record` `dropped` (the unwritten queue was full).
    func operation(_ operation: String, outcome: String, took: Duration? = nil) {
        registry.makeCounter(descriptor: MetricName.storeOperations, labels: [("operation", operation), ("outcome", outcome)]).increment()
        if let took {
            registry.makeDurationHistogram(descriptor: MetricName.storeLatency, labels: [("operation", operation)], buckets: Self.buckets).record(took)
        }
    }

    func written(_ count: Int) { registry.makeCounter(descriptor: MetricName.storeRevocationsWritten).increment(by: Int64(count)) }

    static let buckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(5)]
}
