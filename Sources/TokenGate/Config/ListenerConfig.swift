import NIOCore

/// `listeners.NAME`: one listener that proxies the routes naming it: HTTP/1.1, over TLS
/// when it has `tls`, and HTTP/2 by ALPN (`http2`) or by prior knowledge (`h2c`).
public struct ListenerConfig: Sendable, Equatable {
    public var name: String
    /// `address`: `"host:port"` or `"[v6]:port"`. Required. Port 0 picks a free port.
    public var address: BindAddress
    /// `trusted_proxies`: CIDRs (or single addresses) of peers whose `X-Forwarded-*`
    /// headers are kept and extended. Default none: a client can never forge them.
    var trustedProxies: [CIDR]
    /// `max_header_bytes`: request line plus headers, larger → 431. Default 32768.
    var maxHeaderBytes: Int
    /// `max_headers`: number of request header fields, more → 431. Default 100.
    var maxHeaderCount: Int
    /// `header_read_timeout_seconds`: time to receive a whole request head once it
    /// starts; slower clients are disconnected with 408. Default 10.
    var headerReadTimeout: Duration
    /// `idle_timeout_seconds`: how long a keep-alive client connection may sit idle
    /// between requests. Default 60.
    var idleTimeout: Duration
    /// `max_connections`: client connections open at once; more are closed as they are
    /// accepted (counted in `tokengate_connections_refused_total`). Default 10000, and
    /// never more than half the file descriptors the process may open (each proxied
    /// connection may hold an upstream one too). Reloads apply to new connections.
    var maxConnections: Int
    /// `tls`: terminate TLS with this certificate. Default none (cleartext).
    var tls: ListenerTLSConfig?
    /// `http2`: offer HTTP/2 by ALPN on a TLS listener. Default true with `tls`.
    var http2: Bool = true
    /// `h2c`: take HTTP/2 with prior knowledge on a cleartext listener (for a mesh or an
    /// ingress in front); HTTP/1.1 clients are still served. Default false.
    var h2c: Bool = false
    /// `max_concurrent_streams`: HTTP/2 streams a client may have open on one connection
    /// (announced in SETTINGS; more are refused with RST_STREAM). Default 100.
    var maxConcurrentStreams: Int = ListenerConfig.defaultMaxConcurrentStreams

    /// Whether connections of this listener may speak HTTP/2.
    var speaksHTTP2: Bool { tls != nil ? http2 : h2c }

    static let defaultMaxHeaderBytes = 32 * 1024
    static let defaultMaxHeaderCount = 100
    static let defaultHeaderReadTimeout = Duration.seconds(10)
    static let defaultIdleTimeout = Duration.seconds(60)
    static let defaultMaxConnections = 10_000
    static let defaultMaxConcurrentStreams = 100
}
