import NIOCore
import NIOSSL

/// A route compiled for the hot path: everything a request needs, precomputed. A class,
/// so that handing a route to a request costs one reference, not a copy of every field.
final class ProxyRoute: Sendable {
    let config: RouteConfig
    let endpoint: UpstreamEndpoint
    let connectTimeout: TimeAmount
    let responseHeaderTimeout: TimeAmount
    let idleTimeout: TimeAmount
    /// The upstream's `Host` value, computed once.
    let upstreamAuthority: String
    /// The credential profile whose token this route injects.
    let credential: CredentialProfile?
    /// Inbound token validation, when the route requires it.
    let validation: RouteValidation?
    /// This route's counters and histograms (kept across reloads by listener and name).
    let metrics: RouteMetrics
    /// Browser login, when the route requires a session.
    let login: LoginProfile?

    init(
        config: RouteConfig, endpoint: UpstreamEndpoint, connectTimeout: TimeAmount, responseHeaderTimeout: TimeAmount,
        idleTimeout: TimeAmount, upstreamAuthority: String, credential: CredentialProfile?, validation: RouteValidation?,
        metrics: RouteMetrics, login: LoginProfile? = nil
    ) {
        self.login = login
        self.config = config
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.responseHeaderTimeout = responseHeaderTimeout
        self.idleTimeout = idleTimeout
        self.upstreamAuthority = upstreamAuthority
        self.credential = credential
        self.validation = validation
        self.metrics = metrics
    }

    var name: String { config.name }

    /// The header the injected credential goes in; the client's own is never forwarded.
    var credentialHeaderName: String? { credential?.config.headerName }

    /// The path the upstream receives for a normalised request path.
    func upstreamPath(for path: String) -> String {
        guard config.stripPrefix else { return RequestPath.join(base: config.upstream.path, path) }
        // The prefix matched, so its byte count is a character boundary of `path`. Keep a
        // leading slash when the prefix ended with one: "/billing/" + "x" → "/x".
        let prefixLength = config.pathPrefix.utf8.count
        let keep = config.pathPrefix.utf8.last == UInt8(ascii: "/") ? prefixLength - 1 : prefixLength
        return RequestPath.join(base: config.upstream.path, String(Substring(path.utf8.dropFirst(keep))))
    }

    /// Whether the normalised `path` is under this route's prefix, by the segment rule of
    /// `RequestPath.isUnder` (`/api` matches `/api` and `/api/x`, never `/apix`).
    func matches(path: String) -> Bool {
        RequestPath.isUnder(path, prefix: config.pathPrefix)
    }
}
