/// `login.NAME`: browser login (OpenID Connect, authorization code + PKCE) in front of a
/// web app: TokenGate runs the login, keeps the session in sealed cookies, and hands the
/// app the user's identity as headers.
public struct LoginProfileConfig: Sendable, Equatable {
    /// `cookie_keys[i]`: a key id and its secret (at least 32 bytes).
    public struct CookieKey: Sendable, Equatable {
        public var id: String
        public var secret: SecretReference
    }

    public var name: String
    /// `issuer`: the OpenID Provider; its discovery document gives the endpoints and keys
    /// unless they are configured. Required.
    public var issuer: String
    /// `authorization_endpoint`, `token_endpoint`, `jwks_uri`, `end_session_endpoint`:
    /// override discovery.
    public var authorizationEndpoint: UpstreamURL?
    public var tokenEndpoint: UpstreamURL?
    public var jwksURL: UpstreamURL?
    public var endSessionEndpoint: UpstreamURL?
    /// `client_id`: required.
    public var clientID: String
    /// `client_secret`: none for a public client (PKCE protects the code either way).
    public var clientSecret: SecretReference?
    /// `auth_method`: how a confidential client authenticates. Default `client_secret_basic`.
    public var authMethod: CredentialProfileConfig.AuthMethod
    /// `scopes`: default `openid profile email`; `openid` is always sent.
    public var scopes: [String]
    /// `cookie_keys`: the first seals, every one opens. Required, at least one.
    public var cookieKeys: [CookieKey]
    /// `path_prefix`: where the gateway's own login endpoints live (`callback`, `login`,
    /// `logout`, `backchannel-logout`). Default `/.tokengate/`.
    public var pathPrefix: String
    /// `external_url`: the scheme and host browsers use (`https://portal.example.com`), for
    /// the redirect URI. Default: the request's `Host` and `X-Forwarded-Proto` (from a
    /// trusted proxy).
    public var externalURL: UpstreamURL?
    /// `post_logout_redirect`: where a browser goes after logout. Default `/`.
    public var postLogoutRedirect: String
    /// `allowed_redirect_origins`: other origins a return URL may point at. Default none
    /// (paths on this site only).
    public var allowedRedirectOrigins: [String]
    /// `session.idle_timeout_seconds`, `session.absolute_timeout_seconds`. Defaults 1800
    /// and 28800.
    public var idleTimeout: Duration
    public var absoluteTimeout: Duration
    /// `session.store`: `cookie` (sealed in the browser; survives restarts, works across
    /// replicas) or `memory` (bounded, one replica). Default `cookie`.
    public var sessionStore: SessionStore
    /// `session.max_sessions`: the memory store's bound. Default 10000.
    public var maxSessions: Int
    /// `identity_headers`: header → claim. Default `X-Auth-Subject` ← `sub`,
    /// `X-Auth-Email` ← `email`, `X-Auth-Name` ← `name`, `X-Auth-Username` ←
    /// `preferred_username`, `X-Auth-Groups` ← `groups`.
    public var identityHeaders: [(header: String, claim: String)]
    /// `pass_access_token`: send the user's access token to the app as
    /// `X-Auth-Access-Token`. Default false.
    public var passAccessToken: Bool
    /// `algorithms`: accepted ID token signature algorithms. Default the asymmetric ones.
    public var algorithms: [String]
    /// `clock_skew_seconds`: default 60.
    public var clockSkew: Int
    /// `timeout_seconds`, `ca_file`, `allow_insecure_http`: as for the other profiles.
    public var timeout: Duration
    public var caFile: String?
    public var allowInsecureHTTP: Bool

    public enum SessionStore: String, Sendable, CaseIterable { case cookie, memory }

    public static let defaultIdentityHeaders: [(header: String, claim: String)] = [
        ("X-Auth-Subject", "sub"), ("X-Auth-Email", "email"), ("X-Auth-Name", "name"),
        ("X-Auth-Username", "preferred_username"), ("X-Auth-Groups", "groups"),
    ]

    /// The header the access token goes in with `pass_access_token`.
    public static let accessTokenHeader = "X-Auth-Access-Token"

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.name == rhs.name && lhs.issuer == rhs.issuer && lhs.authorizationEndpoint == rhs.authorizationEndpoint
            && lhs.tokenEndpoint == rhs.tokenEndpoint && lhs.jwksURL == rhs.jwksURL && lhs.endSessionEndpoint == rhs.endSessionEndpoint
            && lhs.clientID == rhs.clientID && lhs.clientSecret == rhs.clientSecret && lhs.authMethod == rhs.authMethod
            && lhs.scopes == rhs.scopes && lhs.cookieKeys == rhs.cookieKeys && lhs.pathPrefix == rhs.pathPrefix
            && lhs.externalURL == rhs.externalURL && lhs.postLogoutRedirect == rhs.postLogoutRedirect
            && lhs.allowedRedirectOrigins == rhs.allowedRedirectOrigins && lhs.idleTimeout == rhs.idleTimeout
            && lhs.absoluteTimeout == rhs.absoluteTimeout && lhs.sessionStore == rhs.sessionStore && lhs.maxSessions == rhs.maxSessions
            && lhs.identityHeaders.map { "\($0.header)=\($0.claim)" } == rhs.identityHeaders.map { "\($0.header)=\($0.claim)" }
            && lhs.passAccessToken == rhs.passAccessToken && lhs.algorithms == rhs.algorithms && lhs.clockSkew == rhs.clockSkew
            && lhs.timeout == rhs.timeout && lhs.caFile == rhs.caFile && lhs.allowInsecureHTTP == rhs.allowInsecureHTTP
    }
}
