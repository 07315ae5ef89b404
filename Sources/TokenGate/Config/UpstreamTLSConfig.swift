import NIOCore

/// `routes[i].upstream_tls`.
struct UpstreamTLSConfig: Sendable, Equatable {
    /// `ca_file`: PEM bundle trusted instead of the system roots. Default system roots.
    var caFile: String?
    /// `server_name`: SNI and certificate name to check. Default the upstream's host.
    var serverName: String?
}
