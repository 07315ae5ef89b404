import NIOCore

/// The whole of `gateway.json`, decoded and validated: an immutable value that a
/// request reads through a snapshot. Each property's doc comment names its JSON key,
/// its default and whether a reload changes it.
public struct GatewayConfig: Sendable {
    /// `listeners`: named proxy listeners (`ingress`, `egress`, or any name). Required,
    /// at least one.
    public var listeners: [ListenerConfig]
    /// `admin`: the admin listener (health, readiness). Default `127.0.0.1:9901`.
    public var admin: AdminConfig
    /// `credentials`: outbound credential profiles by name. Default none.
    public var credentials: [CredentialProfileConfig]
    /// `introspection`: RFC 7662 introspection profiles by name. Default none.
    public var introspection: [IntrospectionProfileConfig]
    /// `jwt`: local JWT access-token validation profiles by name. Default none.
    public var jwt: [JWTProfileConfig] = []
    /// `login`: browser login profiles by name. Default none.
    public var login: [LoginProfileConfig] = []
    /// `routes`: in file order; the router picks the longest matching prefix.
    public var routes: [RouteConfig]
    /// `shutdown`: how SIGTERM drains.
    var shutdown: ShutdownConfig
    /// `access_log`: one line per request on standard output. A reload changes it.
    var accessLog: AccessLogConfig
    /// `workers`: event-loop threads, which serve every connection (nginx's
    /// `worker_processes`, Envoy's `--concurrency`). A number from 1 to 512, or `"auto"`
    /// (the default): the CPUs the process may use, from its affinity mask and its cgroup
    /// CPU limit, so a sidecar limited to one CPU runs one loop. nil is `auto`. Changing it
    /// takes a restart; a reload keeps the running number and says so.
    var workers: Int? = nil

    /// The number of event-loop threads `workers` asks for.
    var workerCount: Int { workers ?? System.coreCount }

    public func listener(named name: String) -> ListenerConfig? { listeners.first { $0.name == name } }
    public func credential(named name: String) -> CredentialProfileConfig? { credentials.first { $0.name == name } }
    func introspectionProfile(named name: String) -> IntrospectionProfileConfig? {
        introspection.first { $0.name == name }
    }
    public func jwtProfile(named name: String) -> JWTProfileConfig? { jwt.first { $0.name == name } }
    func loginProfile(named name: String) -> LoginProfileConfig? { login.first { $0.name == name } }
}

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

/// `admin`: the admin listener.
public struct AdminConfig: Sendable, Equatable {
    /// `address`: default `127.0.0.1:9901`.
    public var address: BindAddress

    static let defaultAddress = BindAddress(host: "127.0.0.1", port: 9901)
}

/// `shutdown`: draining on SIGTERM/SIGINT.
struct ShutdownConfig: Sendable, Equatable {
    /// `grace_seconds`: how long in-flight requests may take to finish after SIGTERM
    /// before connections are closed. Default 25 (under Kubernetes' default 30 s).
    var grace: Duration

    static let defaultGrace = Duration.seconds(25)
}

/// `access_log`: the per-request log line, written to standard output.
struct AccessLogConfig: Sendable, Equatable {
    enum Format: String, Sendable, CaseIterable {
        /// JSON when standard output is not a terminal, text when it is.
        case auto, json, text
    }

    /// What the logged path keeps of the query string. Values of parameters that are
    /// known to carry secrets (`access_token`, `code`, `password`, … and
    /// `redact_query_params`) are never logged, whatever the policy.
    enum QueryPolicy: String, Sendable, CaseIterable {
        /// Names and values, with the values of sensitive parameters replaced.
        case redactSensitive = "redact_sensitive"
        /// Names only: every value replaced.
        case redactAll = "redact_all"
        /// No query string at all.
        case drop
    }

    /// `enabled`: default true.
    var enabled: Bool
    /// `format`: `auto` (default), `json` or `text`.
    var format: Format
    /// `sample_rate`: the share (0 to 1) of requests answered below 400 that are logged;
    /// every 4xx and 5xx is logged. Default 1.
    var sampleRate: Double
    /// `query`: default `redact_sensitive`.
    var query: QueryPolicy
    /// `redact_query_params`: more parameter names (case-insensitive) whose values are
    /// never logged.
    var redactQueryParameters: [String]

    static let `default` = AccessLogConfig(enabled: true, format: .auto, sampleRate: 1, query: .redactSensitive, redactQueryParameters: [])
}

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

    enum BearerTokenPolicy: String, Sendable, CaseIterable { case validate, login }
    enum UnauthenticatedResponse: String, Sendable, CaseIterable { case auto, redirect, unauthorized = "401" }

    static let defaultMaxBodyBytes = 10 * 1024 * 1024
}

/// `routes[i].timeouts`.
struct UpstreamTimeouts: Sendable, Equatable {
    /// `connect_seconds`: default 5.
    var connect: Duration
    /// `response_header_seconds`: from the end of the request to the response head. Default 30.
    var responseHeader: Duration
    /// `idle_seconds`: longest silence while a body streams either way. Default 60.
    var idle: Duration

    static let defaults = UpstreamTimeouts(connect: .seconds(5), responseHeader: .seconds(30), idle: .seconds(60))
}

/// `routes[i].upstream_tls`.
struct UpstreamTLSConfig: Sendable, Equatable {
    /// `ca_file`: PEM bundle trusted instead of the system roots. Default system roots.
    var caFile: String?
    /// `server_name`: SNI and certificate name to check. Default the upstream's host.
    var serverName: String?
}

/// `routes[i].validate`: inbound bearer-token validation: locally for JWTs of a `jwt`
/// profile's issuer, by introspection for everything else.
public struct InboundValidationConfig: Sendable, Equatable {
    /// `introspection`: the introspection profile. At least one of `introspection` and
    /// `jwt` is required.
    var introspection: String?
    /// `jwt`: the JWT profile. With `introspection` too, a token that is a JWT from the
    /// profile's issuer is checked locally and any other is introspected.
    public var jwt: String? = nil
    /// `required_scopes`: all must be granted. Default none.
    var requiredScopes: [String]
    /// `audience`: the token's `aud` must contain it. Default unchecked.
    var audience: String?
    /// `issuer`: the token's `iss` must equal it. Default unchecked.
    var issuer: String?
    /// `forward_authorization`: pass the caller's Authorization header upstream. Default false.
    var forwardAuthorization: Bool
    /// `identity_headers`: header → claim. Default `X-Auth-Subject` ← `sub`,
    /// `X-Auth-Scope` ← `scope`, `X-Auth-Client-Id` ← `client_id`.
    var identityHeaders: [(header: String, claim: String)]
    /// `realm`: the `WWW-Authenticate` realm. Default `"tokengate"`.
    var realm: String

    static let defaultIdentityHeaders: [(header: String, claim: String)] = [
        ("X-Auth-Subject", "sub"), ("X-Auth-Scope", "scope"), ("X-Auth-Client-Id", "client_id"),
    ]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.introspection == rhs.introspection && lhs.jwt == rhs.jwt && lhs.requiredScopes == rhs.requiredScopes
            && lhs.audience == rhs.audience && lhs.issuer == rhs.issuer
            && lhs.forwardAuthorization == rhs.forwardAuthorization && lhs.realm == rhs.realm
            && lhs.identityHeaders.map { "\($0.header)=\($0.claim)" } == rhs.identityHeaders.map { "\($0.header)=\($0.claim)" }
    }
}

/// `credentials.NAME`: how to obtain an outbound access token.
public struct CredentialProfileConfig: Sendable, Equatable {
    enum Grant: String, Sendable, CaseIterable { case clientCredentials = "client_credentials", password }
    enum AuthMethod: String, Sendable, CaseIterable {
        case clientSecretBasic = "client_secret_basic", clientSecretPost = "client_secret_post"
    }

    var name: String
    /// `grant`: `client_credentials` or `password`. Required.
    var grant: Grant
    /// `token_url`: the token endpoint. Required.
    public var tokenURL: UpstreamURL
    /// `client_id`: required.
    var clientID: String
    /// `client_secret`: a secret reference. Required.
    var clientSecret: SecretReference
    /// `auth_method`: default `client_secret_basic`.
    var authMethod: AuthMethod
    /// `scope`, `audience`, `resource` (RFC 8707): sent when set.
    var scope: String?
    var audience: String?
    var resource: String?
    /// `extra_params`: further form fields for the token request. Default none.
    var extraParameters: [String: String]
    /// `username`, `password`: required for the password grant.
    var username: String?
    var password: SecretReference?
    /// `timeout_seconds`: token request timeout. Default 10.
    var timeout: Duration
    /// `ca_file`: PEM bundle for the token endpoint. Default system roots.
    var caFile: String?
    /// `default_lifetime_seconds`: lifetime assumed when `expires_in` is absent. Default 300.
    var defaultLifetime: Duration
    /// `refresh_at_lifetime_fraction`: refresh once this much of the lifetime has passed. Default 0.8.
    var refreshFraction: Double
    /// `header_name`: the header the token goes in. Default `Authorization`.
    var headerName: String
    /// `header_scheme`: the word before the token. Default `Bearer`; `""` sends the bare token.
    var headerScheme: String
    /// `allow_insecure_http`: permit a plain-http `token_url` to a non-loopback host. Default
    /// false (it is a configuration error: secrets would travel in clear text).
    var allowInsecureHTTP: Bool = false
    /// `forced_refresh_min_interval_seconds`: an upstream 401 drops the token and forces a
    /// new one at most this often. Default 10. Reloads.
    var forcedRefreshMinInterval: Duration = .seconds(10)
    /// Not a `gateway.json` key: how old the token must be before an upstream 401 without
    /// any challenge counts as refusing it (`TokenState.unchallengedRejectionMinAge`,
    /// default 5 s). A test setting, so tests that send challenge-less 401s for longer than
    /// that do not race the wall clock.
    var unchallengedRejectionMinAge: Duration = TokenState.defaultUnchallengedRejectionMinAge
}

/// `introspection.NAME`: an RFC 7662 endpoint and its cache.
public struct IntrospectionProfileConfig: Sendable, Equatable {
    var name: String
    /// `url`: the introspection endpoint. Required.
    var url: UpstreamURL
    /// `client_id`, `client_secret`: the resource server's credentials. Required.
    var clientID: String
    var clientSecret: SecretReference
    /// `auth_method`: default `client_secret_basic`.
    var authMethod: CredentialProfileConfig.AuthMethod
    /// `timeout_seconds`: default 5.
    var timeout: Duration
    /// `ca_file`: PEM bundle. Default system roots.
    var caFile: String?
    /// `cache.max_entries`: default 10000.
    var maxEntries: Int
    /// `cache.max_ttl_seconds`: longest an active answer is reused. Default 300.
    var maxTTL: Duration
    /// `cache.negative_ttl_seconds`: how long an inactive answer is reused. Default 10.
    var negativeTTL: Duration
    /// `cache.negative_max_entries`: inactive answers are cached apart from active ones, in
    /// a cache of this size, so random tokens cannot evict real ones. Default 1024.
    var negativeMaxEntries: Int = 1024
    /// `max_in_flight`: most introspection calls in flight at once; past it a request is
    /// answered 503 at once with `Retry-After`. Default 64.
    var maxInFlight: Int = 64
    /// `allow_insecure_http`: permit a plain-http `url` to a non-loopback host. Default false.
    var allowInsecureHTTP: Bool = false
}
