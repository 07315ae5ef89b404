/// Turns a parsed `gateway.json` into `GatewayConfig`, recording every problem with its
/// JSON path. Cross-references between sections are checked in `GatewayConfigValidator`.
struct GatewayConfigDecoder {
    let diagnostics: ConfigDiagnostics

    static let topLevelKeys = ["$schema", "listeners", "admin", "credentials", "introspection", "jwt", "login", "routes", "shutdown", "access_log", "workers", "store"]
    static let accessLogKeys = ["enabled", "format", "sample_rate", "query", "redact_query_params"]
    static let listenerKeys = [
        "address", "trusted_proxies", "max_header_bytes", "max_headers", "header_read_timeout_seconds",
        "idle_timeout_seconds", "max_connections", "tls", "http2", "h2c", "max_concurrent_streams",
    ]
    static let routeKeys = [
        "name", "listener", "match", "strip_prefix", "upstream", "preserve_host", "credential",
        "allow_public_credential", "validate", "timeouts", "max_body_bytes", "upstream_tls", "login", "public_paths", "bearer_token",
        "unauthenticated", "upstream_protocol",
    ]
    static let credentialKeys = [
        "grant", "token_url", "client_id", "client_secret", "auth_method", "scope", "audience", "resource",
        "extra_params", "username", "password", "timeout_seconds", "ca_file", "default_lifetime_seconds",
        "refresh_at_lifetime_fraction", "header_name", "header_scheme", "allow_insecure_http", "forced_refresh_min_interval_seconds", "shared",
    ]
    static let introspectionKeys = [
        "url", "client_id", "client_secret", "auth_method", "timeout_seconds", "ca_file", "cache", "max_in_flight", "allow_insecure_http",
    ]
    static let validateKeys = [
        "introspection", "jwt", "required_scopes", "audience", "issuer", "forward_authorization", "identity_headers", "realm",
    ]

    func decode(_ document: JSONValue) -> GatewayConfig? {
        guard let root = diagnostics.object(document, at: .root, keys: Self.topLevelKeys) else { return nil }
        let listeners = decodeListeners(root)
        let admin = decodeAdmin(root)
        let credentials = (root.map("credentials") ?? []).compactMap { member in
            decodeCredential(name: member.key, member.value, at: root.path.key("credentials").key(member.key))
        }
        let introspection = (root.map("introspection") ?? []).compactMap { member in
            decodeIntrospection(name: member.key, member.value, at: root.path.key("introspection").key(member.key))
        }
        let jwt = (root.map("jwt") ?? []).compactMap { member in
            decodeJWT(name: member.key, member.value, at: root.path.key("jwt").key(member.key))
        }
        let login = (root.map("login") ?? []).compactMap { member in
            decodeLogin(name: member.key, member.value, at: root.path.key("login").key(member.key))
        }
        let routes = decodeRoutes(root)
        var shutdown = ShutdownConfig(grace: ShutdownConfig.defaultGrace)
        if let block = root.object("shutdown", keys: ["grace_seconds"]) {
            shutdown.grace = block.seconds("grace_seconds", default: ShutdownConfig.defaultGrace, maximum: 3600)
        }
        let accessLog = decodeAccessLog(root)
        let workers = decodeWorkers(root)
        let store = decodeStore(root)
        guard let listeners, let routes else { return nil }
        return GatewayConfig(
            listeners: listeners, admin: admin, credentials: credentials, introspection: introspection, jwt: jwt, login: login,
            routes: routes, shutdown: shutdown, accessLog: accessLog, workers: workers, store: store
        )
    }

    /// `workers`: a whole number from 1 to 512, or `"auto"` (nil).
    private func decodeWorkers(_ root: ConfigObject) -> Int? {
        guard let value = root["workers"] else { return nil }
        if case .string("auto") = value { return nil }
        guard case .number = value else {
            diagnostics.error(root.path.key("workers"), "expected a number of threads from 1 to 512, or \"auto\"")
            return nil
        }
        return root.integer("workers", default: 1, in: 1...512)
    }

    private func decodeListeners(_ root: ConfigObject) -> [ListenerConfig]? {
        guard root.contains("listeners") else {
            root.missing("listeners")
            return nil
        }
        guard let members = root.map("listeners") else { return nil }
        if members.isEmpty { diagnostics.error(root.path.key("listeners"), "define at least one listener") }
        return members.compactMap { member -> ListenerConfig? in
            let path = root.path.key("listeners").key(member.key)
            guard let block = diagnostics.object(member.value, at: path, keys: Self.listenerKeys) else { return nil }
            let address = bindAddress(block, "address", required: true)
            var trusted: [CIDR] = []
            for (position, text) in (block.stringArray("trusted_proxies") ?? []).enumerated() {
                switch CIDR.parse(text) {
                case .success(let cidr): trusted.append(cidr)
                case .failure(let problem): diagnostics.error(path.key("trusted_proxies").index(position), problem.description)
                }
            }
            var listener = ListenerConfig(
                name: member.key,
                address: address ?? BindAddress(host: "", port: 0),
                trustedProxies: trusted,
                maxHeaderBytes: block.integer("max_header_bytes", default: ListenerConfig.defaultMaxHeaderBytes, in: 1024...(64 * 1024)),
                maxHeaderCount: block.integer("max_headers", default: ListenerConfig.defaultMaxHeaderCount, in: 8...1000),
                headerReadTimeout: block.seconds("header_read_timeout_seconds", default: ListenerConfig.defaultHeaderReadTimeout, maximum: 600),
                idleTimeout: block.seconds("idle_timeout_seconds", default: ListenerConfig.defaultIdleTimeout, maximum: 3600),
                maxConnections: block.integer("max_connections", default: ListenerConfig.defaultMaxConnections, in: 1...1_000_000)
            )
            listener.tls = decodeListenerTLS(block)
            listener.http2 = block.bool("http2", default: true)
            listener.h2c = block.bool("h2c", default: false)
            listener.maxConcurrentStreams = block.integer("max_concurrent_streams", default: ListenerConfig.defaultMaxConcurrentStreams, in: 1...10_000)
            if listener.tls != nil, listener.h2c {
                diagnostics.error(path.key("h2c"), "h2c is HTTP/2 in cleartext; a TLS listener negotiates HTTP/2 by ALPN (\"http2\")")
            }
            // Kept with a placeholder address when the address was refused, so routes that
            // name this listener are not also reported as dangling.
            return listener
        }
    }

    /// `listeners.NAME.tls`, when present.
    private func decodeListenerTLS(_ listener: ConfigObject) -> ListenerTLSConfig? {
        guard let block = listener.object("tls", keys: ListenerTLSConfig.keys) else { return nil }
        let certFile = block.string("cert_file", required: true)
        let keyFile = block.string("key_file", required: true)
        var tls = ListenerTLSConfig(certFile: certFile ?? "", keyFile: keyFile ?? "")
        tls.minVersion = choice(block, "min_version", default: .tls12)
        tls.clientCAFile = block.string("client_ca_file")
        tls.clientAuth = choice(block, "client_auth", default: .required)
        if block["client_auth"] != nil, tls.clientCAFile == nil {
            diagnostics.error(block.path.key("client_auth"), "needs client_ca_file: the CAs a client certificate must chain to")
        }
        return tls
    }

    private func decodeAccessLog(_ root: ConfigObject) -> AccessLogConfig {
        var log = AccessLogConfig.default
        guard let block = root.object("access_log", keys: Self.accessLogKeys) else { return log }
        log.enabled = block.bool("enabled", default: true)
        log.format = choice(block, "format", default: .auto)
        log.query = choice(block, "query", default: .redactSensitive)
        if let rate = block.number("sample_rate") {
            if rate >= 0 && rate <= 1 {
                log.sampleRate = rate
            } else {
                diagnostics.error(block.path.key("sample_rate"), "must be between 0 and 1 (got \(rate))")
            }
        }
        log.redactQueryParameters = block.stringArray("redact_query_params") ?? []
        return log
    }

    /// A string that must be one of an enumeration's raw values; otherwise an error with
    /// the nearest value or the list of them.
    func choice<Option: RawRepresentable & CaseIterable>(_ block: ConfigObject, _ key: String, default fallback: Option) -> Option
    where Option.RawValue == String {
        guard let text = block.string(key) else { return fallback }
        if let option = Option(rawValue: text) { return option }
        let names = Option.allCases.map(\.rawValue)
        let near = suggestion(for: text, among: names)
        diagnostics.error(block.path.key(key), "unknown value \"\(text)\"" + (near.map { ", did you mean \"\($0)\"?" } ?? " (supported: \(names.joined(separator: ", ")))"))
        return fallback
    }

    /// `store`: the fleet's PostgreSQL database (`postgres.url` required).
    private func decodeStore(_ root: ConfigObject) -> StoreConfig? {
        guard let block = root.object("store", keys: StoreConfig.keys) else { return nil }
        guard let postgres = block.object("postgres", keys: StoreConfig.postgresKeys, required: true),
              let url = postgres.secret("url", required: true)
        else { return nil }
        return StoreConfig(
            url: url, caFile: postgres.string("ca_file"), maxConnections: postgres.integer("max_connections", default: 4, in: 2...32),
            sealKeys: decodeKeys(block, "seal_keys", required: false),
            revocationPoll: block.seconds("revocation_poll_seconds", default: StoreConfig.defaultPoll, maximum: 3600),
            requiredForReadiness: block.bool("required_for_readiness", default: false),
            insecureTransport: postgres.bool("insecure_transport", default: false)
        )
    }

    private func decodeAdmin(_ root: ConfigObject) -> AdminConfig {
        guard let block = root.object("admin", keys: ["address"]) else {
            return AdminConfig(address: AdminConfig.defaultAddress)
        }
        return AdminConfig(address: bindAddress(block, "address", required: false) ?? AdminConfig.defaultAddress)
    }

    private func bindAddress(_ block: ConfigObject, _ key: String, required: Bool) -> BindAddress? {
        guard let text = block.string(key, required: required) else { return nil }
        switch BindAddress.parse(text) {
        case .success(let address): return address
        case .failure(let problem):
            diagnostics.error(block.path.key(key), "\(problem) (got \"\(text)\")")
            return nil
        }
    }

    func url(_ block: ConfigObject, _ key: String) -> UpstreamURL? {
        guard let text = block.string(key, required: true) else { return nil }
        switch UpstreamURL.parse(text) {
        case .success(let url): return url
        case .failure(let problem):
            // User info may carry a password: never echo such a URL back.
            let shown = text.contains("@") ? "" : " (got \"\(text)\")"
            diagnostics.error(block.path.key(key), "\(problem)\(shown)")
            return nil
        }
    }

    private func decodeRoutes(_ root: ConfigObject) -> [RouteConfig]? {
        guard let value = root["routes"] else {
            root.missing("routes")
            return nil
        }
        guard case .array(let elements) = value else {
            diagnostics.error(root.path.key("routes"), "expected an array of routes, got \(value.typeName)")
            return nil
        }
        return elements.enumerated().compactMap { position, element in
            decodeRoute(element, at: root.path.key("routes").index(position))
        }
    }

    private func decodeRoute(_ value: JSONValue, at path: ConfigPath) -> RouteConfig? {
        guard let block = diagnostics.object(value, at: path, keys: Self.routeKeys) else { return nil }
        let name = block.string("name", required: true)
        let listener = block.string("listener", required: true)
        var pathPrefix: String?
        var host: String?
        if let match = block.object("match", keys: ["path_prefix", "host"], required: true) {
            pathPrefix = match.string("path_prefix", required: true)
            if let prefix = pathPrefix, !prefix.hasPrefix("/") {
                diagnostics.error(match.path.key("path_prefix"), "must start with \"/\" (got \"\(prefix)\")")
                pathPrefix = nil
            } else if let prefix = pathPrefix, RequestPath.normalize(prefix).map({ $0 == prefix || $0 + "/" == prefix }) != true {
                diagnostics.error(match.path.key("path_prefix"), "must be a normalised path without \".\", \"..\", \"//\" or encoded slashes (got \"\(prefix)\")")
                pathPrefix = nil
            }
            host = match.string("host")?.lowercased()
        }
        let upstream = url(block, "upstream")
        var timeouts = UpstreamTimeouts.defaults
        if let block = block.object("timeouts", keys: ["connect_seconds", "response_header_seconds", "idle_seconds"]) {
            timeouts.connect = block.seconds("connect_seconds", default: timeouts.connect, maximum: 600)
            timeouts.responseHeader = block.seconds("response_header_seconds", default: timeouts.responseHeader, maximum: 86_400)
            timeouts.idle = block.seconds("idle_seconds", default: timeouts.idle, maximum: 86_400)
        }
        var tls = UpstreamTLSConfig()
        if let block = block.object("upstream_tls", keys: ["ca_file", "server_name"]) {
            tls.caFile = block.string("ca_file")
            tls.serverName = block.string("server_name")
        }
        let validate = block.object("validate", keys: Self.validateKeys).flatMap(decodeValidation)
        var publicPaths: [String] = []
        for (position, prefix) in (block.stringArray("public_paths") ?? []).enumerated() {
            if prefix.hasPrefix("/"), RequestPath.normalize(prefix).map({ $0 == prefix || $0 + "/" == prefix }) == true {
                publicPaths.append(prefix)
            } else {
                diagnostics.error(path.key("public_paths").index(position), "must be a normalised path prefix starting with \"/\" (matched on the path only, never the query)")
            }
        }
        var route = RouteConfig(
            name: name ?? "", listener: listener ?? "", pathPrefix: pathPrefix ?? "", host: host,
            stripPrefix: block.bool("strip_prefix", default: false),
            upstream: upstream ?? UpstreamURL(scheme: .http, host: "", port: 80, path: "/"),
            preserveHost: block.bool("preserve_host", default: false),
            credential: block.string("credential"),
            allowPublicCredential: block.bool("allow_public_credential", default: false),
            validate: validate, timeouts: timeouts,
            maxBodyBytes: block.integer("max_body_bytes", default: RouteConfig.defaultMaxBodyBytes, in: 0...(1 << 50)),
            upstreamTLS: tls
        )
        route.login = block.string("login")
        route.publicPaths = publicPaths
        if block.contains("bearer_token") { route.bearerToken = choice(block, "bearer_token", default: .validate) }
        route.unauthenticated = choice(block, "unauthenticated", default: .auto)
        route.upstreamProtocol = choice(block, "upstream_protocol", default: .http1)
        if let upstream {
            if route.upstreamProtocol == .h2 && !upstream.isTLS {
                diagnostics.error(path.key("upstream_protocol"), "h2 is HTTP/2 over TLS and needs an https upstream; for cleartext HTTP/2 use \"h2c\"")
            } else if route.upstreamProtocol == .h2c && upstream.isTLS {
                diagnostics.error(path.key("upstream_protocol"), "h2c is cleartext HTTP/2 and needs an http upstream; over https use \"h2\"")
            }
        }
        // Returned even when some fields were refused (their errors are recorded), so the
        // cross-checks still see the route's references; placeholders are empty strings,
        // which the validator skips.
        return route
    }

    private func decodeValidation(_ block: ConfigObject) -> InboundValidationConfig? {
        let introspection = block.string("introspection")
        let jwt = block.string("jwt")
        if introspection == nil && jwt == nil && !block.contains("introspection") && !block.contains("jwt") {
            diagnostics.error(block.path, "name a \"jwt\" profile, an \"introspection\" profile, or both")
        }
        let identity = identityHeaders(block, default: InboundValidationConfig.defaultIdentityHeaders)
        guard introspection != nil || jwt != nil else { return nil }
        return InboundValidationConfig(
            introspection: introspection, jwt: jwt,
            requiredScopes: block.stringArray("required_scopes") ?? [],
            audience: block.string("audience"),
            issuer: block.string("issuer"),
            forwardAuthorization: block.bool("forward_authorization", default: false),
            identityHeaders: identity,
            realm: block.string("realm") ?? "tokengate"
        )
    }

    /// `identity_headers`: header → claim, each name checked (never a framing, routing,
    /// hop-by-hop, forwarding or credential field).
    func identityHeaders(_ block: ConfigObject, default fallback: [(header: String, claim: String)]) -> [(header: String, claim: String)] {
        guard let pairs = block.stringMap("identity_headers") else { return fallback }
        var identity: [(header: String, claim: String)] = []
        for pair in pairs {
            if !HeaderName.isValid(pair.key) {
                diagnostics.error(block.path.key("identity_headers").key(pair.key), "is not a valid header name")
            } else if let reason = HeaderName.reservedReason(pair.key) {
                diagnostics.error(block.path.key("identity_headers").key(pair.key), "\(reason); choose a name of your own, such as X-Auth-\(pair.value.prefix(24))")
            } else if pair.value.isEmpty {
                diagnostics.error(block.path.key("identity_headers").key(pair.key), "claim name must not be empty")
            } else {
                identity.append((pair.key, pair.value))
            }
        }
        return identity
    }
}
