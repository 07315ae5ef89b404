import NIOCore

/// `listeners.NAME`: one HTTP/1.1 listener that proxies the routes naming it.
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

    static let defaultMaxHeaderBytes = 32 * 1024
    static let defaultMaxHeaderCount = 100
    static let defaultHeaderReadTimeout = Duration.seconds(10)
    static let defaultIdleTimeout = Duration.seconds(60)
    static let defaultMaxConnections = 10_000
}
