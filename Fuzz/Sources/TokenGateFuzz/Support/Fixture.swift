@testable import TokenGate

/// What the targets share, built once per process from a fixed configuration through the
/// real loader: a listener's request planner (every kind of route: credential, JWT and
/// introspection validation, browser login, host match, strip prefix), the login profile,
/// the JWT profile and the route rules. Nothing here reads a file, the environment or
/// the network.
struct Fixture: Sendable {
    /// The clock of every time check (2025-06-15), so an input means the same on every run;
    /// the seeds' `iat`/`exp` are around it.
    static let now = 1_750_000_000

    /// The environment secrets resolve from (never the process's).
    static let environment: [String: String] = [
        "BILLING_SECRET": "fuzz-billing-secret-3f0c2a",
        "INTROSPECTION_SECRET": "fuzz-introspection-secret-9b1d",
        "JWT_HMAC_SECRET": Fixture.hmacSecret,
        "PORTAL_SECRET": "fuzz-portal-secret-77e2",
        "COOKIE_KEY_NEW": "fuzz-cookie-key-new-0123456789abcdef0123456789",
        "COOKIE_KEY_OLD": "fuzz-cookie-key-old-fedcba9876543210fedcba9876",
    ]

    /// The HMAC secret of JWT profile `as` (the `jwt` seeds' HS256 tokens are signed with it).
    static let hmacSecret = "fuzz-hmac-secret-0123456789abcdef0123456789"

    /// The one "file" a `{"file": …}` secret can name; every other path is missing. The
    /// resolver never touches the file system, whatever path an input names.
    static let secretFilePath = "/run/secrets/fuzz"
    /// The one CA bundle `ca_file` can name (only its existence is checked).
    static let caFilePath = "/etc/tokengate/ca.pem"

    static let resolver = SecretResolver(environment: Fixture.environment) { path in
        guard path == Fixture.secretFilePath else { throw FileReader.Failure(description: "No such file or directory") }
        return Array("fuzz-file-secret-5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\n".utf8)
    }

    /// Every secret value the resolver can hand out: none may appear in a message.
    static var secretValues: [String] { Array(environment.values) + ["fuzz-file-secret-5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"] }

    static let configText = #"""
    { "listeners": { "main": { "address": "127.0.0.1:8080", "trusted_proxies": ["10.0.0.0/8", "fd00::/8"], "max_headers": 64 } },
      "admin": { "address": "127.0.0.1:9901" },
      "credentials": { "billing-api": { "grant": "client_credentials", "token_url": "http://127.0.0.1:9000/oauth2/token",
                                        "client_id": "billing-svc", "client_secret": { "env": "BILLING_SECRET" }, "scope": "invoices:read" } },
      "introspection": { "idp": { "url": "http://127.0.0.1:9000/oauth2/introspect", "client_id": "tokengate-rs",
                                  "client_secret": { "env": "INTROSPECTION_SECRET" } } },
      "jwt": { "as": { "issuer": "https://as.example.com", "audience": ["https://api.example.com", "orders"],
                       "algorithms": ["HS256", "RS256", "ES256", "EdDSA"], "hmac_secret": { "env": "JWT_HMAC_SECRET" } } },
      "login": { "portal": { "issuer": "https://idp.example.com", "client_id": "legacy-portal", "client_secret": { "env": "PORTAL_SECRET" },
                             "cookie_keys": [ { "id": "k2", "secret": { "env": "COOKIE_KEY_NEW" } }, { "id": "k1", "secret": { "env": "COOKIE_KEY_OLD" } } ],
                             "path_prefix": "/portal/.tokengate/",
                             "allowed_redirect_origins": ["https://app.example.com", "http://localhost:8080"],
                             "end_session_endpoint": "https://idp.example.com/logout" } },
      "routes": [
        { "name": "billing", "listener": "main", "match": { "path_prefix": "/billing/" }, "strip_prefix": true,
          "upstream": "http://127.0.0.1:3000/api/", "credential": "billing-api" },
        { "name": "orders", "listener": "main", "match": { "path_prefix": "/orders" }, "upstream": "http://127.0.0.1:3001/",
          "validate": { "jwt": "as", "introspection": "idp", "required_scopes": ["orders:read"], "audience": "orders",
                        "identity_headers": { "X-Auth-Subject": "sub", "X-Auth-Groups": "groups", "X-Audience": "aud" } } },
        { "name": "forwarding", "listener": "main", "match": { "path_prefix": "/fwd/" }, "upstream": "http://127.0.0.1:3002/base",
          "preserve_host": true,
          "validate": { "introspection": "idp", "forward_authorization": true, "issuer": "https://as.example.com", "realm": "fwd \"area\"" } },
        { "name": "portal", "listener": "main", "match": { "path_prefix": "/portal/" }, "upstream": "http://127.0.0.1:3003", "login": "portal" },
        { "name": "admin-host", "listener": "main", "match": { "host": "admin.example.com", "path_prefix": "/" },
          "upstream": "http://127.0.0.1:3004/host-route/" },
        { "name": "default", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:3005", "max_body_bytes": 1048576 }
      ] }
    """#

    /// The public keys the `jwt` and `logout` seeds are signed with (their private halves
    /// were thrown away once the seeds were made).
    static let jwksText = #"""
    {"keys": [{"kty": "EC", "crv": "P-256", "kid": "es-1", "use": "sig", "alg": "ES256", "x": "GHkYF4kfD_kHXYKB2YPCDES8twG-ojIxbFx5q0JYj7g", "y": "1LHe26pFJGkATub-SXt-lypumnEg0eB-T82tXrBIhPc"}, {"kty": "RSA", "kid": "rs-1", "use": "sig", "alg": "RS256", "n": "qVwTF1GR67kQWaoXgacqFURF85N6UWORKJiQEvSB2_Fuh4S6PLgARTUd8bt3G9EtGclcXA8uMZJcY4_m3Ko2oz7SyvFh_pyMsjwHKoLLsmN1MyZf_fvMeO9P5CyfHOZFVvekrKXzmUeND0KubbaG3n32XL1mHxVCAI4ZHtZ7uoLA5NAvwFnMAHBIRLi4reHZBpdGDhizDZnqasj5GsTWKJeHhZPnroEfQ5INN-1XcZVi92I_X_4C5WYFUEIkBJHmMNWRN6TMhjNnY7pQ4aL3iIQ8iJiinQtELSEYP99iACDtck5qh_0ey8joVSMjZo1npVnCW60v_n_DINZHjdLi1w", "e": "AQAB"}, {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "x": "H6BtpI9NhslRId-Jf9_WIBJOidlrPPl9j4iuO0YHKD4"}]}
    """#

    let loaded: LoadedConfig
    /// Listener `main` as a running gateway plans it (browser login exists, so the
    /// gateway's cookies are kept from every upstream).
    let planner: RequestPlanner
    /// The same listener without the login cookie rule (a configuration without login).
    let plainPlanner: RequestPlanner
    /// Login profile `portal`. Its ID token profile never has keys and is stopped, so a
    /// signature check answers at once (refused) instead of waiting for a key set fetch.
    let login: LoginProfile
    /// JWT profile `as`.
    let jwtConfig: JWTProfileConfig
    /// The rules of route `orders` (JWT and introspection, scopes, audience, identity
    /// headers) and of route `forwarding` (issuer, forwarded Authorization, a realm to quote).
    let ordersRules: InboundValidationConfig
    let forwardingRules: InboundValidationConfig

    static let shared = Fixture.load()

    private static func load() -> Fixture {
        let loader = ConfigLoader(resolver: Fixture.resolver, fileExists: { $0 == Fixture.caFilePath })
        let loaded: LoadedConfig
        do {
            loaded = try loader.load(bytes: Array(configText.utf8), source: "fuzz fixture")
        } catch {
            harnessFailure("the fixture configuration does not load:\n" + error.issues.map(\.description).joined(separator: "\n"))
        }
        let config = loaded.config
        let metrics = GatewayMetrics()
        var credentials: [String: CredentialProfile] = [:]
        for profile in config.credentials { credentials[profile.name] = CredentialProfile(profile, metrics: metrics.credential(profile.name)) }
        var introspection: [String: IntrospectionProfile] = [:]
        for profile in config.introspection {
            introspection[profile.name] = IntrospectionProfile(profile, metrics: metrics.introspection(profile.name))
        }
        var jwt: [String: JWTProfile] = [:]
        for profile in config.jwt { jwt[profile.name] = JWTProfile(profile, metrics: metrics.jwt(profile.name)) }
        guard let loginConfig = config.loginProfile(named: "portal") else { harnessFailure("the fixture has no login profile portal") }
        let login = LoginProfile(loginConfig, resolver: resolver, metrics: metrics, revocationCapacity: 4096)
        login.idTokens.finish()
        let snapshot: ConfigSnapshot
        do {
            let profiles = Profiles(credentials: credentials, introspection: introspection, jwt: jwt, login: [login.name: login])
            snapshot = try ConfigSnapshot(loaded, profiles: profiles, metrics: metrics)
        } catch {
            harnessFailure("the fixture's snapshot cannot be built:\n" + error.issues.map(\.description).joined(separator: "\n"))
        }
        guard let planner = snapshot.planner(forListener: "main") else { harnessFailure("the fixture has no listener main") }
        guard let jwtConfig = config.jwtProfile(named: "as") else { harnessFailure("the fixture has no JWT profile as") }
        guard let orders = config.routes.first(where: { $0.name == "orders" })?.validate,
              let forwarding = config.routes.first(where: { $0.name == "forwarding" })?.validate
        else { harnessFailure("the fixture's routes orders and forwarding have no validate block") }
        return Fixture(
            loaded: loaded, planner: planner,
            plainPlanner: RequestPlanner(listener: planner.listener, router: planner.router, identityNames: planner.identityNames),
            login: login, jwtConfig: jwtConfig, ordersRules: orders, forwardingRules: forwarding
        )
    }

    /// Key sets built from `jwksText` by the real builder: the JWT profile's (its
    /// algorithms and HMAC secret) and the login profile's ID token set (asymmetric only).
    struct Keys: Sendable {
        let access: JWTKeySet
        let idTokens: JWTKeySet
    }

    static let keys: Keys = {
        let jwks = Array(Fixture.jwksText.utf8)
        let accessAlgorithms = Fixture.shared.jwtConfig.algorithms
        let idTokenAlgorithms = Fixture.shared.login.idTokens.config.algorithms
        let secret = Array(Fixture.hmacSecret.utf8)
        let access = runBlocking { await JWTKeySet.build(jwks: jwks, allowed: accessAlgorithms, hmacSecret: secret) }
        let idTokens = runBlocking { await JWTKeySet.build(jwks: jwks, allowed: idTokenAlgorithms, hmacSecret: nil) }
        guard case .success(let accessSet) = access, case .success(let idTokenSet) = idTokens,
              accessSet.keys.count == 3, idTokenSet.keys.count == 3
        else { harnessFailure("the fixture's key set does not build with its three keys") }
        return Keys(access: accessSet, idTokens: idTokenSet)
    }()
}
