/// Decoding of the top-level `credentials` and `introspection` profiles: the two kinds that
/// call an authorization server as an OAuth client (`client_id`, `client_secret`, `auth_method`).
extension GatewayConfigDecoder {
    func decodeCredential(name: String, _ value: JSONValue, at path: ConfigPath) -> CredentialProfileConfig? {
        guard let block = diagnostics.object(value, at: path, keys: Self.credentialKeys) else { return nil }
        var grant: CredentialProfileConfig.Grant?
        if let text = block.string("grant", required: true) {
            grant = CredentialProfileConfig.Grant(rawValue: text)
            if grant == nil {
                switch text {
                case "implicit":
                    diagnostics.error(path.key("grant"), "the implicit grant is not offered (RFC 9700 §2.1.2: tokens in URLs leak); use authorization code with PKCE: a \"login\" profile on the route, or PKCE in the browser app with \"validate\" here")
                case "authorization_code":
                    diagnostics.error(path.key("grant"), "authorization code is a browser's login, not a service's credential: define a \"login\" profile and set \"login\" on the route")
                default:
                    let near = suggestion(for: text, among: CredentialProfileConfig.Grant.allCases.map(\.rawValue))
                    diagnostics.error(path.key("grant"), "unknown grant \"\(text)\"" + (near.map { ", did you mean \"\($0)\"?" } ?? " (supported: client_credentials, password)"))
                }
            }
        }
        let tokenURL = url(block, "token_url")
        let clientID = block.string("client_id", required: true)
        let clientSecret = block.secret("client_secret", required: true)
        let authMethod = self.authMethod(block)
        let username = block.string("username")
        let password = block.secret("password")
        if grant == .password {
            if username == nil && !block.contains("username") { block.missing("username") }
            if password == nil && !block.contains("password") { block.missing("password") }
        } else if grant == .clientCredentials {
            for key in ["username", "password"] where block.contains(key) {
                diagnostics.error(path.key(key), "only used by the password grant; remove it or set \"grant\": \"password\"")
            }
        }
        let fraction = block.number("refresh_at_lifetime_fraction") ?? 0.8
        if !(fraction > 0.1 && fraction < 1) {
            diagnostics.error(path.key("refresh_at_lifetime_fraction"), "must be greater than 0.1 and less than 1")
        }
        var extra: [String: String] = [:]
        let reserved: Set<String> = ["grant_type", "client_id", "client_secret", "scope", "audience", "resource", "username", "password", "refresh_token"]
        for pair in block.stringMap("extra_params") ?? [] {
            if reserved.contains(pair.key) {
                diagnostics.error(path.key("extra_params").key(pair.key), "is set by TokenGate itself; use the profile's own key")
            } else {
                extra[pair.key] = pair.value
            }
        }
        var headerScheme = "Bearer"
        if case .string(let scheme)? = block["header_scheme"] {
            // An auth-scheme is a token (RFC 9110 §11.1); checked here, so the field the
            // gateway injects needs no check per request (`HTTPHeadBuilder.preverifiedField`).
            if !scheme.isEmpty, !HeaderName.isValid(scheme) {
                diagnostics.error(path.key("header_scheme"), "is not a valid authentication scheme (letters, digits and !#$%&'*+-.^_`|~ only)")
            }
            headerScheme = scheme
        } else if let other = block["header_scheme"] {
            diagnostics.error(path.key("header_scheme"), "expected a string, got \(other.typeName)")
        }
        let headerName = block.string("header_name") ?? "Authorization"
        if !HeaderName.isValid(headerName) {
            diagnostics.error(path.key("header_name"), "is not a valid header name")
        } else if ![.other, .authorization].contains(HeaderKind.of(headerName)) {
            diagnostics.error(path.key("header_name"), "\(headerName) frames or routes the request; it cannot carry a credential")
        }
        guard let grant, let tokenURL, let clientID, let clientSecret else { return nil }
        var profile = CredentialProfileConfig(
            name: name, grant: grant, tokenURL: tokenURL, clientID: clientID, clientSecret: clientSecret,
            authMethod: authMethod, scope: block.string("scope"), audience: block.string("audience"),
            resource: block.string("resource"), extraParameters: extra, username: username, password: password,
            timeout: block.seconds("timeout_seconds", default: .seconds(10), maximum: 300),
            caFile: block.string("ca_file"),
            defaultLifetime: block.seconds("default_lifetime_seconds", default: .seconds(300)),
            refreshFraction: fraction, headerName: headerName, headerScheme: headerScheme
        )
        profile.allowInsecureHTTP = block.bool("allow_insecure_http", default: false)
        profile.forcedRefreshMinInterval = block.seconds("forced_refresh_min_interval_seconds", default: .seconds(10), maximum: 3600)
        profile.shared = block.bool("shared", default: false)
        return profile
    }

    private func authMethod(_ block: ConfigObject) -> CredentialProfileConfig.AuthMethod {
        choice(block, "auth_method", default: .clientSecretBasic)
    }

    func decodeIntrospection(name: String, _ value: JSONValue, at path: ConfigPath) -> IntrospectionProfileConfig? {
        guard let block = diagnostics.object(value, at: path, keys: Self.introspectionKeys) else { return nil }
        let endpoint = url(block, "url")
        let clientID = block.string("client_id", required: true)
        let clientSecret = block.secret("client_secret", required: true)
        let authMethod = self.authMethod(block)
        var maxEntries = 10_000
        var maxTTL = Duration.seconds(300)
        var negativeTTL = Duration.seconds(10)
        var negativeMaxEntries = 1024
        if let cache = block.object("cache", keys: ["max_entries", "max_ttl_seconds", "negative_ttl_seconds", "negative_max_entries"]) {
            maxEntries = cache.integer("max_entries", default: maxEntries, in: 1...10_000_000)
            maxTTL = cache.seconds("max_ttl_seconds", default: maxTTL)
            negativeTTL = cache.seconds("negative_ttl_seconds", default: negativeTTL)
            negativeMaxEntries = cache.integer("negative_max_entries", default: negativeMaxEntries, in: 1...1_000_000)
        }
        guard let endpoint, let clientID, let clientSecret else { return nil }
        var profile = IntrospectionProfileConfig(
            name: name, url: endpoint, clientID: clientID, clientSecret: clientSecret, authMethod: authMethod,
            timeout: block.seconds("timeout_seconds", default: .seconds(5), maximum: 300),
            caFile: block.string("ca_file"), maxEntries: maxEntries, maxTTL: maxTTL, negativeTTL: negativeTTL
        )
        profile.negativeMaxEntries = negativeMaxEntries
        profile.maxInFlight = block.integer("max_in_flight", default: 64, in: 1...100_000)
        profile.allowInsecureHTTP = block.bool("allow_insecure_http", default: false)
        return profile
    }
}
