/// Decoding of the top-level `login` profiles.
extension GatewayConfigDecoder {
    static let loginKeys = [
        "issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint", "client_id", "client_secret",
        "auth_method", "scopes", "cookie_keys", "path_prefix", "external_url", "post_logout_redirect", "allowed_redirect_origins",
        "session", "identity_headers", "pass_access_token", "algorithms", "clock_skew_seconds", "timeout_seconds", "ca_file",
        "allow_insecure_http",
    ]
    static let sessionKeys = ["idle_timeout_seconds", "absolute_timeout_seconds", "store", "max_sessions"]

    func decodeLogin(name: String, _ value: JSONValue, at path: ConfigPath) -> LoginProfileConfig? {
        guard let block = diagnostics.object(value, at: path, keys: Self.loginKeys) else { return nil }
        let issuer = block.string("issuer", required: true)
        if let issuer, case .failure(let problem) = UpstreamURL.parse(issuer) {
            diagnostics.error(path.key("issuer"), "\(problem) (the issuer identifier is an https URL)")
        }
        func optionalURL(_ key: String) -> UpstreamURL? { block.contains(key) ? url(block, key) : nil }
        let clientID = block.string("client_id", required: true)
        var scopes = block.stringArray("scopes") ?? ["openid", "profile", "email"]
        if !scopes.contains("openid") { scopes.insert("openid", at: 0) }
        let keys = decodeKeys(block)
        var pathPrefix = block.string("path_prefix") ?? "/.tokengate/"
        if !pathPrefix.hasSuffix("/") { pathPrefix += "/" }
        if !pathPrefix.hasPrefix("/") || RequestPath.normalize(pathPrefix).map({ $0 + "/" == pathPrefix || $0 == pathPrefix }) != true || pathPrefix == "/" {
            diagnostics.error(path.key("path_prefix"), "must be a normalised path below / such as \"/.tokengate/\"")
        }
        var externalURL: UpstreamURL?
        if let text = block.string("external_url") {
            switch UpstreamURL.parse(text) {
            case .success(let url) where url.path == "/": externalURL = url
            case .success: diagnostics.error(path.key("external_url"), "only the scheme and host, such as \"https://portal.example.com\" (no path)")
            case .failure(let problem): diagnostics.error(path.key("external_url"), problem.description)
            }
        }
        var origins: [String] = []
        for (position, text) in (block.stringArray("allowed_redirect_origins") ?? []).enumerated() {
            if let origin = RedirectTarget.normalizedOrigin(text) {
                origins.append(origin)
            } else {
                diagnostics.error(path.key("allowed_redirect_origins").index(position), "must be an origin: scheme and host, such as \"https://app.example.com\"")
            }
        }
        let postLogout = block.string("post_logout_redirect") ?? "/"
        if RedirectTarget.validate(postLogout, allowedOrigins: origins) == nil {
            diagnostics.error(path.key("post_logout_redirect"), "must be a path on this site or a URL on one of allowed_redirect_origins")
        }
        var idle = Duration.seconds(1800), absolute = Duration.seconds(28_800)
        var store = LoginProfileConfig.SessionStore.cookie
        var maxSessions = 10_000
        if let session = block.object("session", keys: Self.sessionKeys) {
            idle = session.seconds("idle_timeout_seconds", default: idle, maximum: 2_592_000)
            absolute = session.seconds("absolute_timeout_seconds", default: absolute, maximum: 31_536_000)
            store = choice(session, "store", default: .cookie)
            maxSessions = session.integer("max_sessions", default: maxSessions, in: 1...10_000_000)
            if idle > absolute { diagnostics.error(session.path.key("idle_timeout_seconds"), "must not be longer than absolute_timeout_seconds") }
        }
        let identity = identityHeaders(block, default: LoginProfileConfig.defaultIdentityHeaders)
        let algorithms = (block.stringArray("algorithms") ?? JWTProfileConfig.asymmetricAlgorithms).filter { name in
            guard JWTProfileConfig.asymmetricAlgorithms.contains(name) else {
                diagnostics.error(path.key("algorithms"), "\"\(name)\" is not an accepted ID token algorithm (supported: \(JWTProfileConfig.asymmetricAlgorithms.joined(separator: ", ")))")
                return false
            }
            return true
        }
        guard let issuer, let clientID else { return nil }
        return LoginProfileConfig(
            name: name, issuer: issuer, authorizationEndpoint: optionalURL("authorization_endpoint"), tokenEndpoint: optionalURL("token_endpoint"),
            jwksURL: optionalURL("jwks_uri"), endSessionEndpoint: optionalURL("end_session_endpoint"), clientID: clientID,
            clientSecret: block.secret("client_secret"), authMethod: choice(block, "auth_method", default: .clientSecretBasic), scopes: scopes,
            cookieKeys: keys, pathPrefix: pathPrefix, externalURL: externalURL, postLogoutRedirect: postLogout,
            allowedRedirectOrigins: origins, idleTimeout: idle, absoluteTimeout: absolute, sessionStore: store, maxSessions: maxSessions,
            identityHeaders: identity, passAccessToken: block.bool("pass_access_token", default: false), algorithms: algorithms,
            clockSkew: block.integer("clock_skew_seconds", default: 60, in: 0...300),
            timeout: block.seconds("timeout_seconds", default: .seconds(10), maximum: 300), caFile: block.string("ca_file"),
            allowInsecureHTTP: block.bool("allow_insecure_http", default: false)
        )
    }

    /// `cookie_keys` (a login profile's) or `seal_keys` (the store's): a non-empty list of
    /// `{"id", "secret"}`, the first seals, all open.
    func decodeKeys(_ block: ConfigObject, _ name: String = "cookie_keys", required: Bool = true) -> [LoginProfileConfig.CookieKey] {
        guard let value = block[name] else {
            if required { block.missing(name) }
            return []
        }
        let at = block.path.key(name)
        guard case .array(let items) = value, !items.isEmpty else {
            diagnostics.error(at, "expected a non-empty array of {\"id\": …, \"secret\": …}; the first seals, all open")
            return []
        }
        var keys: [LoginProfileConfig.CookieKey] = []
        for (position, item) in items.enumerated() {
            guard let entry = diagnostics.object(item, at: at.index(position), keys: ["id", "secret"]) else { continue }
            let id = entry.string("id", required: true)
            let secret = entry.secret("secret", required: true)
            if let id, id.utf8.count > 64 || !id.utf8.allSatisfy(ByteClass.token.contains) {
                diagnostics.error(at.index(position).key("id"), "a short name of letters, digits and -._ (at most 64)")
            } else if let id, keys.contains(where: { $0.id == id }) {
                diagnostics.error(at.index(position).key("id"), "\"\(id)\" is already the id of another key")
            }
            if let id, let secret { keys.append(LoginProfileConfig.CookieKey(id: id, secret: secret)) }
        }
        return keys
    }
}
