import NIOCore

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
    /// `shared`: the fleet shares one token (`store` needed, with `seal_keys`): one replica
    /// asks the authorization server under a lease and stores the token sealed, the others
    /// take it from the store. Each replica still fetches its own while the store is
    /// unavailable. Default false.
    var shared: Bool = false
    /// Not a `gateway.json` key: how old the token must be before an upstream 401 without
    /// any challenge counts as refusing it (`TokenState.unchallengedRejectionMinAge`,
    /// default 5 s). A test setting, so tests that send challenge-less 401s for longer than
    /// that do not race the wall clock.
    var unchallengedRejectionMinAge: Duration = TokenState.defaultUnchallengedRejectionMinAge
}
