import Testing
@testable import TokenGate

/// A document with one login profile (extra keys `PROFILE`) on one route (extra keys `ROUTE`).
private func loginDocument(profile: String = "", route: String = "", prefix: String = "/") -> String {
    """
    { "listeners": { "ingress": { "address": "0.0.0.0:8080" } },
      "login": { "portal": { "issuer": "https://idp.example.com", "client_id": "legacy-portal", "client_secret": { "env": "PORTAL" },
                             "cookie_keys": [ { "id": "2026-11", "secret": { "env": "KEY" } } ]\(profile) } },
      "jwt": { "idp": { "issuer": "https://idp.example.com", "audience": "https://portal.example.com" } },
      "routes": [ { "name": "portal", "listener": "ingress", "match": { "path_prefix": "\(prefix)" }, "upstream": "http://127.0.0.1:3000",
                    "login": "portal"\(route) } ] }
    """
}

private let secrets = ["PORTAL": "portal-secret", "KEY": "0123456789abcdef0123456789abcdef-key"]

private func load(_ json: String, environment: [String: String] = secrets) -> Result<LoadedConfig, ConfigurationError> {
    loadConfig(json, environment: environment)
}

private func errors(_ json: String, environment: [String: String] = secrets) -> [String] {
    configErrors(json, environment: environment)
}

@Suite("login profiles in gateway.json")
struct LoginConfigTests {
    @Test("defaults: openid profile email, /.tokengate/, 30 min idle and 8 h absolute sessions in cookies, the usual identity headers")
    func defaults() throws {
        let loaded = try load(loginDocument()).get()
        let profile = try #require(loaded.config.login.first)
        #expect(profile.scopes == ["openid", "profile", "email"])
        #expect(profile.pathPrefix == "/.tokengate/")
        #expect(profile.idleTimeout == .seconds(1800) && profile.absoluteTimeout == .seconds(28_800))
        #expect(profile.sessionStore == .cookie)
        #expect(profile.identityHeaders.map(\.header) == ["X-Auth-Subject", "X-Auth-Email", "X-Auth-Name", "X-Auth-Username", "X-Auth-Groups"])
        #expect(!profile.passAccessToken)
        #expect(loaded.config.routes.first?.login == "portal")
        let scopes = try load(loginDocument(profile: #", "scopes": ["email"]"#)).get()
        #expect(scopes.config.login.first?.scopes == ["openid", "email"], "openid is always asked for")
    }

    @Test("cookie keys: required, secrets of at least 32 bytes, unique ids")
    func cookieKeys() {
        #expect(errors(loginDocument(), environment: ["PORTAL": "x", "KEY": "short"]).contains { $0.hasPrefix("login.portal.cookie_keys[0].secret: must be at least 32 bytes") })
        let missing = loginDocument().replacingOccurrences(of: #""cookie_keys": [ { "id": "2026-11", "secret": { "env": "KEY" } } ]"#, with: #""scopes": ["openid"]"#)
        #expect(errors(missing).contains { $0.hasPrefix("login.portal.cookie_keys: required key is missing") })
        let twice = loginDocument().replacingOccurrences(of: #"[ { "id": "2026-11", "secret": { "env": "KEY" } } ]"#,
                                                         with: #"[ { "id": "a", "secret": { "env": "KEY" } }, { "id": "a", "secret": { "env": "KEY" } } ]"#)
        #expect(errors(twice).contains { $0.hasPrefix("login.portal.cookie_keys[1].id:") })
    }

    @Test("a route with login and validate says which wins for a bearer token; public_paths need login")
    func routeRules() {
        #expect(errors(loginDocument(route: #", "validate": { "jwt": "idp" }"#)).contains { $0.hasPrefix("routes[0].bearer_token: required with both") })
        #expect(errors(loginDocument(route: #", "validate": { "jwt": "idp" }, "bearer_token": "validate""#)).isEmpty)
        #expect(errors(loginDocument(route: #", "bearer_token": "validate""#)).contains { $0.hasPrefix("routes[0].bearer_token: only means something") })
        #expect(errors(loginDocument(route: #", "public_paths": ["static/"]"#)).contains { $0.hasPrefix("routes[0].public_paths[0]:") })
        #expect(errors(loginDocument(route: #", "unauthenticated": "sometimes""#)).contains { $0.hasPrefix("routes[0].unauthenticated: unknown value") })
        let dangling = loginDocument().replacingOccurrences(of: #""login": "portal" } ] }"#, with: #""login": "portl" } ] }"#)
        #expect(errors(dangling).contains { $0.contains(#"no login profile named "portl", did you mean "portal"?"#) })
    }

    @Test("return targets, external URL and the endpoints' path are checked")
    func urls() {
        #expect(errors(loginDocument(profile: #", "post_logout_redirect": "https://evil.example/""#)).contains { $0.hasPrefix("login.portal.post_logout_redirect:") })
        #expect(errors(loginDocument(profile: #", "post_logout_redirect": "https://www.example.com/bye", "allowed_redirect_origins": ["https://www.example.com"]"#)).isEmpty)
        #expect(errors(loginDocument(profile: #", "allowed_redirect_origins": ["https://www.example.com/path"]"#)).contains { $0.hasPrefix("login.portal.allowed_redirect_origins[0]:") })
        #expect(errors(loginDocument(profile: #", "external_url": "http://portal.example.com""#)).contains { $0.hasPrefix("login.portal.external_url: plain http") })
        let loopback = try? load(loginDocument(profile: #", "external_url": "http://127.0.0.1:8080""#)).get()
        #expect(loopback?.warnings.contains { $0.description.hasPrefix("login.portal.external_url: plain http") } == true)
        #expect(errors(loginDocument(prefix: "/app/")).contains { $0.hasPrefix("login.portal.path_prefix: /.tokengate/ (the callback, login and logout endpoints) is not under") })
        #expect(errors(loginDocument(profile: #", "path_prefix": "/app/.tokengate/""#, prefix: "/app/")).isEmpty)
    }

    /// Two login profiles on one listener, `staff` under `/staff/` and `partners` under
    /// `/partners/`, with keys and `match` extras of their own.
    private static func twoProfiles(staffKeys: String = #"[ { "id": "k1", "secret": { "env": "KEY" } } ]"#,
                                    partnersKeys: String = #"[ { "id": "k1", "secret": { "env": "KEY" } } ]"#,
                                    staff: String = "", partners: String = "", staffMatch: String = "", partnersMatch: String = "") -> String {
        """
        { "listeners": { "ingress": { "address": "0.0.0.0:8080" } },
          "login": {
            "staff": { "issuer": "https://login.example.com", "client_id": "staff-app", "path_prefix": "/staff/.tokengate/",
                       "cookie_keys": \(staffKeys)\(staff) },
            "partners": { "issuer": "https://signup.example.net", "client_id": "partner-portal", "path_prefix": "/partners/.tokengate/",
                          "cookie_keys": \(partnersKeys)\(partners) } },
          "routes": [
            { "name": "staff", "listener": "ingress", "match": { "path_prefix": "/staff/"\(staffMatch) }, "upstream": "http://127.0.0.1:3000", "login": "staff" },
            { "name": "partners", "listener": "ingress", "match": { "path_prefix": "/partners/"\(partnersMatch) }, "upstream": "http://127.0.0.1:3001", "login": "partners" } ] }
        """
    }

    @Test("login profiles a browser reaches on one host (its name, whatever the port) may not share a cookie key; on separate hosts, or with keys of their own, they may")
    func cookieKeysPerHost() {
        let environment = ["KEY": "0123456789abcdef0123456789abcdef-key", "SAME": "0123456789abcdef0123456789abcdef-key",
                           "OTHER": "fedcba9876543210fedcba9876543210-key"]
        func refusals(_ json: String) -> [String] {
            errors(json, environment: environment).filter { $0.contains(".cookie_keys[0]: the same key") }
        }
        let shared = refusals(Self.twoProfiles())
        #expect(shared.count == 1)
        #expect(shared.first?.contains(#"(id "k1" and its secret) as login profile "#) == true)
        #expect(shared.first?.contains("give each login profile on a host cookie keys of its own") == true)
        // The same secret under another variable is the same key; the same id alone is not.
        #expect(refusals(Self.twoProfiles(partnersKeys: #"[ { "id": "k1", "secret": { "env": "SAME" } } ]"#)).count == 1)
        #expect(errors(Self.twoProfiles(partnersKeys: #"[ { "id": "k1", "secret": { "env": "OTHER" } } ]"#), environment: environment).isEmpty)
        #expect(errors(Self.twoProfiles(partnersKeys: #"[ { "id": "k2", "secret": { "env": "KEY" } } ]"#), environment: environment).isEmpty,
                "another id derives another key")
        // A key further down the list counts too (rotation).
        #expect(errors(Self.twoProfiles(partnersKeys: #"[ { "id": "new", "secret": { "env": "OTHER" } }, { "id": "k1", "secret": { "env": "KEY" } } ]"#),
                       environment: environment).contains { $0.hasPrefix("login.partners.cookie_keys[1]: the same key") || $0.hasPrefix("login.staff.cookie_keys[0]: the same key") })
        // Hosts: match.host, then external_url (port and scheme ignored, as browsers do).
        #expect(errors(Self.twoProfiles(staffMatch: #", "host": "staff.example.com""#, partnersMatch: #", "host": "partners.example.com""#), environment: environment).isEmpty)
        #expect(refusals(Self.twoProfiles(staffMatch: #", "host": "staff.example.com""#)).count == 1, "a route without match.host serves every host")
        #expect(refusals(Self.twoProfiles(staffMatch: #", "host": "portal.example.com""#, partnersMatch: #", "host": "portal.example.com""#)).count == 1)
        #expect(refusals(Self.twoProfiles(staff: #", "external_url": "https://portal.example.com""#,
                                          partners: #", "external_url": "https://portal.example.com:8443""#)).count == 1)
        #expect(errors(Self.twoProfiles(staff: #", "external_url": "https://staff.example.com""#,
                                        partners: #", "external_url": "https://partners.example.com""#), environment: environment).isEmpty)
        // Unread secrets (check --no-secrets): the same reference is the same key.
        let unread = { (json: String) -> [String] in
            do {
                _ = try ConfigLoader(resolver: .unread).load(bytes: Array(json.utf8))
                return []
            } catch let error as ConfigurationError {
                return error.issues.map(\.description).filter { $0.contains(".cookie_keys[0]: the same key") }
            } catch {
                return ["unexpected error: \(error)"]
            }
        }
        #expect(unread(Self.twoProfiles()).count == 1)
        #expect(unread(Self.twoProfiles(partnersKeys: #"[ { "id": "k1", "secret": { "env": "OTHER" } } ]"#)).isEmpty)
    }
}
