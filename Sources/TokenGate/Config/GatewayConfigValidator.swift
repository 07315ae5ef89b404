/// Checks that need the whole document: names that refer to each other, addresses that
/// collide, secrets that must resolve, and the rule that keeps a credential from being
/// lent to anyone who can reach a public port.
struct GatewayConfigValidator {
    let diagnostics: ConfigDiagnostics
    let resolver: SecretResolver
    let fileExists: @Sendable (String) -> Bool

    func validate(_ config: GatewayConfig) {
        checkAddresses(config)
        checkRoutes(config)
        checkProfiles(config)
        checkJWTProfiles(config)
        checkLoginProfiles(config)
        if let store = config.store {
            resolve(store.url, at: ConfigPath.root.key("store").key("postgres").key("url"))
            checkCAFile(store.caFile, at: ConfigPath.root.key("store").key("postgres").key("ca_file"))
            for (position, key) in store.sealKeys.enumerated() {
                resolve(key.secret, at: ConfigPath.root.key("store").key("seal_keys").index(position).key("secret"))
            }
        }
    }

    private func checkAddresses(_ config: GatewayConfig) {
        var seen: [BindAddress: String] = [:]
        for listener in config.listeners where listener.address.port != 0 {
            let path = ConfigPath.root.key("listeners").key(listener.name).key("address")
            if let other = seen[listener.address] {
                diagnostics.error(path, "\(listener.address) is already used by listener \"\(other)\"")
            }
            seen[listener.address] = listener.name
        }
        for listener in config.listeners {
            guard let tls = listener.tls else { continue }
            let path = ConfigPath.root.key("listeners").key(listener.name).key("tls")
            let files = [("cert_file", tls.certFile), ("key_file", tls.keyFile)] + (tls.clientCAFile.map { [("client_ca_file", $0)] } ?? [])
            var readable = true
            for (key, file) in files where !file.isEmpty && !fileExists(file) {
                diagnostics.error(path.key(key), "file \(file) cannot be read")
                readable = false
            }
            guard readable, !tls.certFile.isEmpty, !tls.keyFile.isEmpty else { continue }
            // Parsed and paired as the listener will (so `check` says what start would).
            do {
                _ = try ServingCertificate.load(tls, offersHTTP2: listener.http2)
            } catch {
                diagnostics.error(path.key(error.key), error.detail)
            }
        }
        if config.admin.address.port != 0, let other = seen[config.admin.address] {
            diagnostics.error(.root.key("admin").key("address"), "\(config.admin.address) is already used by listener \"\(other)\"")
        }
    }

    private func checkRoutes(_ config: GatewayConfig) {
        var names: [String: Int] = [:]
        var matches: [String: Int] = [:]
        let listenerNames = config.listeners.map(\.name)
        for (position, route) in config.routes.enumerated() {
            let path = ConfigPath.root.key("routes").index(position)
            if route.name.isEmpty {
                // Already reported while decoding.
            } else if let first = names[route.name] {
                diagnostics.error(path.key("name"), "\"\(route.name)\" is already the name of routes[\(first)]")
            } else {
                names[route.name] = position
            }
            let listener = config.listener(named: route.listener)
            if listener == nil && !route.listener.isEmpty {
                reportDangling(path.key("listener"), kind: "listener", name: route.listener, defined: listenerNames)
            }
            let matchKey = "\(route.listener)\u{0}\(route.host ?? "")\u{0}\(route.pathPrefix)"
            if route.pathPrefix.isEmpty {
                // The prefix was refused while decoding.
            } else if let first = matches[matchKey] {
                diagnostics.error(path.key("match"), "matches exactly the same requests as routes[\(first)]; one of them could never serve")
            } else {
                matches[matchKey] = position
            }
            if let credential = route.credential {
                if config.credential(named: credential) == nil {
                    reportDangling(path.key("credential"), kind: "credential profile", name: credential, defined: config.credentials.map(\.name))
                }
                if let listener, !listener.address.host.isEmpty, !listener.address.isLoopback, route.validate == nil, !route.allowPublicCredential {
                    diagnostics.error(
                        path.key("credential"),
                        "injects credential \"\(credential)\" on listener \"\(listener.name)\" bound to \(listener.address), which is not loopback: anyone who can reach that port would borrow this identity; add \"validate\" or set \"allow_public_credential\": true"
                    )
                }
            }
            if let name = route.validate?.introspection, config.introspectionProfile(named: name) == nil {
                reportDangling(path.key("validate").key("introspection"), kind: "introspection profile", name: name, defined: config.introspection.map(\.name))
            }
            if let name = route.validate?.jwt, config.jwtProfile(named: name) == nil {
                reportDangling(path.key("validate").key("jwt"), kind: "JWT profile", name: name, defined: config.jwt.map(\.name))
            }
            if let validate = route.validate, validate.introspection != nil, validate.audience == nil, validate.issuer == nil {
                diagnostics.warning(
                    path.key("validate"),
                    "checks neither \"audience\" nor \"issuer\": any active token the authorization server knows passes, tokens issued for other services included"
                )
            }
            checkLoginRoute(route, at: path, config: config)
            if let caFile = route.upstreamTLS.caFile {
                if !route.upstream.isTLS {
                    diagnostics.error(path.key("upstream_tls"), "applies only to an https upstream")
                } else if !fileExists(caFile) {
                    diagnostics.error(path.key("upstream_tls").key("ca_file"), "file \(caFile) cannot be read")
                }
            }
        }
    }

    private func checkProfiles(_ config: GatewayConfig) {
        let usedCredentials = Set(config.routes.compactMap(\.credential))
        for profile in config.credentials {
            let path = ConfigPath.root.key("credentials").key(profile.name)
            resolve(profile.clientSecret, at: path.key("client_secret"))
            if let password = profile.password { resolve(password, at: path.key("password")) }
            checkCAFile(profile.caFile, at: path.key("ca_file"))
            refuseClearText(profile.tokenURL, allowed: profile.allowInsecureHTTP, at: path.key("token_url"))
            if !usedCredentials.contains(profile.name) {
                diagnostics.warning(path, "no route uses this credential profile")
            }
            if profile.shared && config.store == nil {
                diagnostics.error(path.key("shared"), "a shared credential needs a store section (the fleet's PostgreSQL database) to share its token through")
            } else if profile.shared && config.store?.sealKeys.isEmpty == true {
                diagnostics.error(path.key("shared"), "a shared credential's token is kept sealed in the store: add store.seal_keys")
            }
        }
        let usedIntrospection = Set(config.routes.compactMap(\.validate?.introspection))
        for profile in config.introspection {
            let path = ConfigPath.root.key("introspection").key(profile.name)
            resolve(profile.clientSecret, at: path.key("client_secret"))
            checkCAFile(profile.caFile, at: path.key("ca_file"))
            refuseClearText(profile.url, allowed: profile.allowInsecureHTTP, at: path.key("url"))
            if !usedIntrospection.contains(profile.name) {
                diagnostics.warning(path, "no route uses this introspection profile")
            }
        }
    }

    private func checkJWTProfiles(_ config: GatewayConfig) {
        let used = Set(config.routes.compactMap(\.validate?.jwt))
        for profile in config.jwt {
            let path = ConfigPath.root.key("jwt").key(profile.name)
            if let secret = profile.hmacSecret { resolve(secret, at: path.key("hmac_secret")) }
            checkCAFile(profile.caFile, at: path.key("ca_file"))
            if let jwks = profile.jwksURL {
                refuseClearText(jwks, allowed: profile.allowInsecureHTTP, at: path.key("jwks_uri"))
            } else if case .success(let issuer) = UpstreamURL.parse(profile.issuer) {
                refuseClearText(issuer, allowed: profile.allowInsecureHTTP, at: path.key("issuer"))
            }
            if profile.allowAnyAudience {
                diagnostics.warning(path.key("allow_any_audience"), "tokens the issuer made for any other service pass too; set \"audience\"")
            }
            if profile.types.contains(where: { $0.caseInsensitiveEquals("jwt") || $0.caseInsensitiveEquals("application/jwt") }) {
                diagnostics.warning(path.key("types"), "\"JWT\" is also the typ of ID tokens and other JWTs: only the audience check keeps them from passing as access tokens")
            }
            if !used.contains(profile.name) {
                diagnostics.warning(path, "no route uses this JWT profile")
            }
        }
    }

    private func checkLoginRoute(_ route: RouteConfig, at path: ConfigPath, config: GatewayConfig) {
        if let name = route.login, config.loginProfile(named: name) == nil {
            reportDangling(path.key("login"), kind: "login profile", name: name, defined: config.login.map(\.name))
        }
        if route.login != nil && route.validate != nil && route.bearerToken == nil {
            diagnostics.error(path.key("bearer_token"), "required with both \"login\" and \"validate\": say which wins for a request carrying a bearer token (\"validate\" for API clients of the same app, or \"login\")")
        }
        if route.bearerToken != nil && (route.login == nil || route.validate == nil) {
            diagnostics.error(path.key("bearer_token"), "only means something on a route with both \"login\" and \"validate\"")
        }
        if !route.publicPaths.isEmpty && route.login == nil {
            diagnostics.error(path.key("public_paths"), "only means something on a route with \"login\"")
        }
        if route.login != nil && route.credential != nil {
            diagnostics.warning(path.key("credential"), "the app receives the gateway's credential, not the user's; set \"pass_access_token\" on the login profile to hand it the user's token")
        }
    }

    private func checkLoginProfiles(_ config: GatewayConfig) {
        let used = config.routes.filter { $0.login != nil }
        for profile in config.login {
            let path = ConfigPath.root.key("login").key(profile.name)
            if let secret = profile.clientSecret { resolve(secret, at: path.key("client_secret")) }
            for (position, key) in profile.cookieKeys.enumerated() {
                if let secret = try? resolver.resolve(key.secret), resolver.readsSecrets, secret.revealed.utf8.count < 32 {
                    diagnostics.error(path.key("cookie_keys").index(position).key("secret"), "must be at least 32 bytes of random (for example: openssl rand -base64 48)")
                } else {
                    resolve(key.secret, at: path.key("cookie_keys").index(position).key("secret"))
                }
            }
            checkCAFile(profile.caFile, at: path.key("ca_file"))
            for (key, url) in [("authorization_endpoint", profile.authorizationEndpoint), ("token_endpoint", profile.tokenEndpoint),
                               ("jwks_uri", profile.jwksURL), ("end_session_endpoint", profile.endSessionEndpoint)] {
                if let url { refuseClearText(url, allowed: profile.allowInsecureHTTP, at: path.key(key)) }
            }
            if case .success(let issuer) = UpstreamURL.parse(profile.issuer) {
                refuseClearText(issuer, allowed: profile.allowInsecureHTTP, at: path.key("issuer"))
            }
            if let external = profile.externalURL, !external.isTLS {
                if external.isLoopback {
                    diagnostics.warning(path.key("external_url"), "plain http: session cookies are sent without Secure (development on loopback only)")
                } else if !profile.allowInsecureHTTP {
                    diagnostics.error(path.key("external_url"), "plain http to a remote host would send session cookies in clear text; use https, or set \"allow_insecure_http\": true")
                }
            }
            if profile.sessionStore == .shared && config.store == nil {
                diagnostics.error(path.key("session").key("store"), "shared sessions are kept in the fleet's store: add a store section (its PostgreSQL database)")
            } else if profile.sessionStore == .shared && config.store?.sealKeys.isEmpty == true {
                diagnostics.error(path.key("session").key("store"), "shared sessions are kept sealed in the store: add store.seal_keys")
            } else if config.store?.sealKeys.isEmpty == true {
                diagnostics.warning(path, "the store has no seal_keys, so this profile's sessions are refreshed by each replica alone (two replicas spending one rotating refresh token log the user out); add store.seal_keys")
            }
            let routes = used.filter { $0.login == profile.name }
            if routes.isEmpty {
                diagnostics.warning(path, "no route uses this login profile")
            }
            if profile.externalURL == nil {
                // Without external_url the redirect URI's scheme comes from the listener:
                // https on TLS, a trusted proxy's X-Forwarded-Proto, or else a guess of https.
                for listener in Set(routes.map(\.listener)).sorted() {
                    guard let config = config.listeners.first(where: { $0.name == listener }),
                          config.tls == nil, config.trustedProxies.isEmpty else { continue }
                    diagnostics.warning(path.key("external_url"), "listener \"\(listener)\" is plain http with no trusted_proxies, so redirect URIs are built as https://<Host>\(profile.pathPrefix)...; if clients reach it over http, set external_url (or tls on the listener, or trusted_proxies for the proxy that terminates TLS), or the provider will refuse the redirect URI")
                }
            }
        }
        // The login endpoints must reach a route of their profile on each listener it serves.
        for route in used {
            guard let profile = route.login.flatMap(config.loginProfile(named:)) else { continue }
            let covered = used.contains { other in
                other.login == profile.name && other.listener == route.listener && other.host == route.host
                    && RequestPath.isUnder(profile.pathPrefix, prefix: other.pathPrefix)
            }
            if !covered {
                diagnostics.error(.root.key("login").key(profile.name).key("path_prefix"), "\(profile.pathPrefix) (the callback, login and logout endpoints) is not under the path_prefix of a route of listener \"\(route.listener)\" that uses this profile; set it under \(route.pathPrefix)")
            }
        }
        // One login profile per path prefix on a listener: the callback must know its profile.
        var prefixes: [String: String] = [:]
        for route in used {
            guard let profile = route.login.flatMap(config.loginProfile(named:)) else { continue }
            let key = "\(route.listener)\u{0}\(route.host ?? "")\u{0}\(profile.pathPrefix)"
            if let other = prefixes[key], other != profile.name {
                diagnostics.error(.root.key("login").key(profile.name).key("path_prefix"), "\(profile.pathPrefix) is also login profile \"\(other)\"'s on listener \"\(route.listener)\"; give each its own path_prefix")
            }
            prefixes[key] = profile.name
        }
        checkLoginCookieKeysPerHost(config)
    }

    private func resolve(_ reference: SecretReference, at path: ConfigPath) {
        do {
            _ = try resolver.resolve(reference)
        } catch {
            diagnostics.error(path, error.description)
        }
    }

    private func checkCAFile(_ file: String?, at path: ConfigPath) {
        if let file, !fileExists(file) { diagnostics.error(path, "file \(file) cannot be read") }
    }

    /// Plain http to a remote authorization server sends secrets in clear text and lets
    /// anyone in the middle answer `active: true`: an error unless the profile says
    /// `allow_insecure_http` (then a warning).
    private func refuseClearText(_ url: UpstreamURL, allowed: Bool, at path: ConfigPath) {
        guard !url.isTLS && !url.isLoopback else { return }
        if allowed {
            diagnostics.warning(path, "plain http to a remote host sends client secrets and tokens in clear text; use https")
        } else {
            diagnostics.error(path, "plain http to a remote host sends client secrets and tokens in clear text and trusts any answer; use https, or set \"allow_insecure_http\": true")
        }
    }

    private func reportDangling(_ path: ConfigPath, kind: String, name: String, defined: [String]) {
        var message = "no \(kind) named \"\(name)\""
        if let near = suggestion(for: name, among: defined) {
            message += ", did you mean \"\(near)\"?"
        } else if defined.isEmpty {
            message += " (none is defined)"
        } else {
            message += " (defined: \(defined.joined(separator: ", ")))"
        }
        diagnostics.error(path, message)
    }
}
