import NIOCore

/// `routes[i]`: which requests go where, and with what credentials.
public struct RouteConfig: Sendable, Equatable {
    /// `name`: unique, used in errors, logs and metrics. Required.
    var name: String
    /// `listener`: the listener this route serves. Required.
    public var listener: String
    /// `match.path_prefix`: must start with `/`. Required. Matched against the
    /// normalised path; the longest matching prefix wins.
    public var pathPrefix: String
    /// `match.host`: when set, only requests with this Host (port ignored) match.
    var host: String?
    /// `strip_prefix`: remove `path_prefix` before joining onto the upstream path. Default false.
    var stripPrefix: Bool
    /// `upstream`: absolute `http://` or `https://` URL; its path is prepended. Required.
    public var upstream: UpstreamURL
    /// `preserve_host`: send the client's Host instead of the upstream's. Default false.
    var preserveHost: Bool
    /// `credential`: the outbound credential profile to inject. Default none.
    public var credential: String?
    /// `allow_public_credential`: let a credential-injecting route serve a non-loopback
    /// listener without validating inbound tokens. Default false.
    var allowPublicCredential: Bool
    /// `validate`: inbound token validation. Default none.
    public var validate: InboundValidationConfig?
    /// `timeouts`: upstream timeouts.
    var timeouts: UpstreamTimeouts
    /// `max_body_bytes`: largest request body accepted, larger → 413. Default 10 MiB.
    var maxBodyBytes: Int
    /// `upstream_tls`: TLS settings for an `https` upstream.
    var upstreamTLS: UpstreamTLSConfig
    /// `login`: the browser login profile that guards this route. Default none.
    public var login: String? = nil
    /// `public_paths`: path prefixes of a login route served without a session (matched
    /// on the normalised path, never the query, by whole segments as `match.path_prefix`:
    /// `RequestPath.isUnder`). Default none.
    var publicPaths: [String] = []
    /// `bearer_token`: with both `login` and `validate`, what a request carrying
    /// `Authorization: Bearer` gets: `validate` (an API client of the same app) or `login`
    /// (the header is ignored; the session decides). Required when both are set.
    var bearerToken: BearerTokenPolicy? = nil
    /// `unauthenticated`: what a login route answers a request without a session: `auto`
    /// (401 to API calls, a redirect to the provider for page loads), `redirect` or `401`.
    var unauthenticated: UnauthenticatedResponse = .auto

    /// `upstream_protocol`: how the gateway speaks to the upstream: `http1` (default),
    /// `h2` (HTTP/2 over TLS, negotiated by ALPN; an `https` upstream) or `h2c` (HTTP/2
    /// with prior knowledge; an `http` upstream). gRPC services need one of the HTTP/2 two.
    var upstreamProtocol: UpstreamProtocol = .http1

    enum UpstreamProtocol: String, Sendable, CaseIterable {
        case http1, h2, h2c
    }

    enum BearerTokenPolicy: String, Sendable, CaseIterable { case validate, login }
    enum UnauthenticatedResponse: String, Sendable, CaseIterable { case auto, redirect, unauthorized = "401" }

    static let defaultMaxBodyBytes = 10 * 1024 * 1024
}
