import Logging
import NIOCore

/// What every connection of one listener shares. A class: each connection's handler holds
/// a reference to it, not a copy of its fields.
final class ListenerEnvironment: Sendable {
    let name: String
    let snapshots: SnapshotStore
    let pools: UpstreamPools
    let logger: Logger
    let telemetry: Telemetry
    /// Metrics for requests that no route matched.
    let unmatched: RouteMetrics
    /// Accepted connections by protocol, and HTTP/2 streams.
    let connections: ListenerConnectionCounters
    /// The serving certificates of TLS listeners (the gateway's, shared by all listeners).
    let certificates: ServingCertificates

    init(name: String, snapshots: SnapshotStore, pools: UpstreamPools, logger: Logger, telemetry: Telemetry,
         certificates: ServingCertificates = ServingCertificates()) {
        self.name = name
        self.snapshots = snapshots
        self.pools = pools
        self.logger = logger
        self.telemetry = telemetry
        self.unmatched = telemetry.metrics.route(listener: name, route: "")
        self.connections = telemetry.metrics.connectionCounters(listener: name)
        self.certificates = certificates
    }
}
