/// `login.NAME`: browser login (OpenID Connect, authorization code + PKCE) in front of a
/// web app: TokenGate runs the login, keeps the session in sealed cookies, and hands the
/// app the user's identity as headers.
public struct LoginProfileConfig: Sendable, Equatable {
    /// `cookie_keys[i]`: a key id and its secret (at least 32 bytes).
    struct CookieKey: Sendable, Equatable {
        var id: String
        var secret: SecretReference
    }

    var name: String
    /// `issuer`: the OpenID Provider; its discovery document gives the endpoints and keys
    /// unless they are configured. Required.
    var issuer: String
    /// `authorization_endpoint`, `token_endpoint`, `jwks_uri`, `end_session_endpoint`:
    /// override discovery.
    var authorizationEndpoint: UpstreamURL?
    var tokenEndpoint: UpstreamURL?
    var jwksURL: UpstreamURL?
    var endSessionEndpoint: UpstreamURL?
    /// `client_id`: required.
    var clientID: String
    /// `client_secret`: none for a public client (PKCE protects the code either way).
    var clientSecret: SecretReference?
    /// `auth_method`: how a confidential client authenticates. Default `client_secret_basic`.
    var authMethod: CredentialProfileConfig.AuthMethod
    /// `scopes`: default `openid profile email`; `openid` is always sent.
    var scopes: [String]
    /// `cookie_keys`: the first seals, every one opens. Required, at least one.
    var cookieKeys: [CookieKey]
    /// `path_prefix`: where the gateway's own login endpoints live (`callback`, `login`,
    /// `logout`, `backchannel-logout`). Default `/.tokengate/`.
    var pathPrefix: String
    /// `external_url`: the scheme and host browsers use (`https://portal.example.com`), for
    /// the redirect URI. Default: the request's `Host` and `X-Forwarded-Proto` (from a
    /// trusted proxy).
    var externalURL: UpstreamURL?
    /// `post_logout_redirect`: where a browser goes after logout. Default `/`.
    var postLogoutRedirect: String
    /// `allowed_redirect_origins`: other origins a return URL may point at. Default none
    /// (paths on this site only).
    var allowedRedirectOrigins: [String]
    /// `session.idle_timeout_seconds`, `session.absolute_timeout_seconds`. Defaults 1800
    /// and 28800.
    var idleTimeout: Duration
    var absoluteTimeout: Duration
    /// `session.store`: `cookie` (sealed in the browser; survives restarts, works across
    /// replicas), `memory` (bounded, one replica) or `shared` (sealed in the fleet's
    /// store, read by every replica; needs a `store` section). Default `cookie`.
    var sessionStore: SessionStore
    /// `session.max_sessions`: the memory store's bound (with `shared`, how many sessions
    /// each replica keeps read). Default 10000.
    var maxSessions: Int
    /// `identity_headers`: header → claim. Default `X-Auth-Subject` ← `sub`,
    /// `X-Auth-Email` ← `email`, `X-Auth-Name` ← `name`, `X-Auth-Username` ←
    /// `preferred_username`, `X-Auth-Groups` ← `groups`.
    var identityHeaders: [(header: String, claim: String)]
    /// `pass_access_token`: send the user's access token to the app as
    /// `X-Auth-Access-Token`. Default false.
    var passAccessToken: Bool
    /// `algorithms`: accepted ID token signature algorithms. Default the asymmetric ones.
    var algorithms: [String]
    /// `clock_skew_seconds`: default 60.
    var clockSkew: Int
    /// `timeout_seconds`, `ca_file`, `allow_insecure_http`: as for the other profiles.
    var timeout: Duration
    var caFile: String?
    var allowInsecureHTTP: Bool

    enum SessionStore: String, Sendable, CaseIterable { case cookie, memory, shared }

    static let defaultIdentityHeaders: [(header: String, claim: String)] = [
        ("X-Auth-Subject", "sub"), ("X-Auth-Email", "email"), ("X-Auth-Name", "name"),
        ("X-Auth-Username", "preferred_username"), ("X-Auth-Groups", "groups"),
    ]

    /// The header the access token goes in with `pass_access_token`.
    static let accessTokenHeader = "X-Auth-Access-Token"

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
