import NIOConcurrencyHelpers
import Prometheus

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
