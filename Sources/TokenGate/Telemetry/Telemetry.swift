/// Where the data path reports what it did: Prometheus metrics and the access log.
public struct Telemetry: Sendable {
    public let metrics: GatewayMetrics
    let accessLog: AccessLogWriter

    public init(metrics: GatewayMetrics = GatewayMetrics(), accessLog: AccessLogWriter = .standardOutput()) {
        self.metrics = metrics
        self.accessLog = accessLog
    }
}
