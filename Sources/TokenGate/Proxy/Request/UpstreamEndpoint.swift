import NIOCore
import NIOSSL

/// Where a route sends its requests: the address to connect to and how (TLS or not).
/// Connections in the per-event-loop pools are shared by routes with equal keys.
struct UpstreamEndpoint: Sendable {
    struct Key: Hashable, Sendable {
        var host: String
        var port: Int
        var tls: Bool
        var caFile: String?
        var serverName: String?
        /// HTTP/2 (`upstream_protocol` `h2` over TLS, `h2c` without): one connection
        /// carries many exchanges, each on its own stream.
        var http2 = false
    }

    let key: Key
    /// Built once per configuration snapshot (loading a CA bundle is not per-request work).
    let tlsContext: NIOSSLContext?
    /// The name sent as SNI and checked against the certificate; nil for IP addresses.
    let serverHostname: String?
}
