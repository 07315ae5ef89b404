/// `jwt.NAME`: local validation of JWT access tokens (RFC 9068) from one issuer, against
/// the issuer's published keys (JWKS).
public struct JWTProfileConfig: Sendable, Equatable {
    var name: String
    /// `issuer`: the exact `iss` of accepted tokens, and where discovery starts. Required.
    public var issuer: String
    /// `jwks_uri`: the key set. Default: found by discovery from `issuer`
    /// (`/.well-known/openid-configuration`, then RFC 8414
    /// `/.well-known/oauth-authorization-server`).
    var jwksURL: UpstreamURL?
    /// `algorithms`: the signature algorithms accepted. Default every asymmetric one
    /// (`RS256` … `PS512`, `ES256` … `ES512`, `EdDSA`). `none` is never accepted; `HS256`,
    /// `HS384`, `HS512` only when listed here and `hmac_secret` is set.
    var algorithms: [String]
    /// `audience`: a string or an array; the token's `aud` must contain one of them.
    /// Required unless `allow_any_audience` is true.
    public var audiences: [String]
    /// `allow_any_audience`: accept tokens for any audience (`check` warns). Default false.
    var allowAnyAudience: Bool
    /// `clock_skew_seconds`: leeway on `exp`, `nbf` and `iat`. Default 60, at most 300.
    var clockSkew: Int
    /// `types`: accepted `typ` header values, compared without case and with an optional
    /// `application/` prefix. Default `at+jwt` (RFC 9068 §2.1), which refuses ID tokens.
    var types: [String]
    /// `hmac_secret`: a shared secret for HS256/384/512 tokens. Default none.
    var hmacSecret: SecretReference?
    /// `ca_file`: PEM bundle for discovery and JWKS. Default system roots.
    var caFile: String?
    /// `timeout_seconds`: per discovery or JWKS request. Default 5.
    var timeout: Duration
    /// `allow_insecure_http`: permit plain http to a non-loopback issuer. Default false.
    var allowInsecureHTTP: Bool
    /// `cache.max_entries`: verified tokens remembered (each until its `exp`). Default 10000.
    var maxEntries: Int
    /// `jwks.refresh_seconds`: key set refresh interval when the answer has no
    /// `Cache-Control: max-age`. Default 300.
    var refreshInterval: Duration
    /// `jwks.min_refresh_seconds` and `jwks.max_refresh_seconds`: bounds on `max-age`.
    /// Defaults 60 and 86400.
    var minRefresh: Duration
    var maxRefresh: Duration
    /// `jwks.unknown_kid_interval_seconds`: an unknown `kid` refetches the key set at most
    /// this often. Default 10.
    var unknownKidInterval: Duration
    /// `jwks.startup_wait_seconds`: how long readiness waits for the first key set.
    /// Default 15.
    var startupWait: Duration

    /// Tokens without `typ` pass the type check (ID tokens, for browser login; never set
    /// from `gateway.json`).
    var acceptsUntypedTokens = false

    /// Every asymmetric algorithm jwt-kit verifies, the default allow-list.
    static let asymmetricAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
    static let hmacAlgorithms = ["HS256", "HS384", "HS512"]
    static let defaultTypes = ["at+jwt"]
}
