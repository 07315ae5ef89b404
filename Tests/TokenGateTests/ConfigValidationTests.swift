import Logging
import NIOCore
import Testing
@testable import TokenGate

private func load(_ json: String, environment: [String: String] = [:], files: [String: String] = [:]) -> Result<LoadedConfig, ConfigurationError> {
    loadConfig(json, environment: environment, files: files)
}

private func errors(_ json: String, environment: [String: String] = [:], files: [String: String] = [:]) -> [String] {
    configErrors(json, environment: environment, files: files)
}

/// A valid egress document whose route can be amended by the cases below.
private func egress(extra: String = "", route: String = "", listener: String = "127.0.0.1:8081") -> String {
    """
    { "listeners": { "egress": { "address": "\(listener)" } },
      \(extra)
      "routes": [ { "name": "billing", "listener": "egress", "match": { "path_prefix": "/billing/" },
                    "upstream": "https://billing.example.com/api/"\(route) } ] }
    """
}

private let billingProfile = """
"credentials": { "billing-api": { "grant": "client_credentials", "token_url": "https://idp.example.com/oauth2/token",
  "client_id": "billing-svc", "client_secret": { "env": "BILLING_SECRET" } } },
"""

@Suite("gateway.json decoding and validation")
struct ConfigValidationTests {
    @Test("the DESIGN example resolves its secrets from env and file")
    func designExampleLoads() throws {
        let json = """
        { "listeners": { "ingress": { "address": "0.0.0.0:8080" }, "egress": { "address": "127.0.0.1:8081" } },
          "admin": { "address": "127.0.0.1:9901" },
          "credentials": {
            "billing-api": { "grant": "client_credentials", "token_url": "https://idp.example.com/oauth2/token",
              "client_id": "billing-svc", "client_secret": { "env": "BILLING_CLIENT_SECRET" }, "auth_method": "client_secret_basic",
              "scope": "invoices:read invoices:write", "audience": "https://billing.example.com" },
            "crm": { "grant": "password", "token_url": "https://idp.example.com/oauth2/token", "client_id": "legacy-crm",
              "client_secret": { "file": "/run/secrets/crm-client-secret" }, "username": "crm-sync",
              "password": { "env": "CRM_PASSWORD" }, "scope": "contacts" } },
          "introspection": { "idp": { "url": "https://idp.example.com/oauth2/introspect", "client_id": "tokengate-rs",
              "client_secret": { "env": "INTROSPECTION_SECRET" },
              "cache": { "max_entries": 100000, "max_ttl_seconds": 300, "negative_ttl_seconds": 10 } } },
          "routes": [
            { "name": "billing", "listener": "egress", "match": { "path_prefix": "/billing/" }, "strip_prefix": true,
              "upstream": "https://billing.example.com/api/", "credential": "billing-api" },
            { "name": "crm", "listener": "egress", "match": { "path_prefix": "/crm/" }, "upstream": "https://crm.example.com/", "credential": "crm" },
            { "name": "legacy-app", "listener": "ingress", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:3000",
              "validate": { "introspection": "idp", "required_scopes": ["legacy:use"] } } ] }
        """
        let environment = ["BILLING_CLIENT_SECRET": "b-secret", "CRM_PASSWORD": "c-pass", "INTROSPECTION_SECRET": "i-secret"]
        let loaded = try load(json, environment: environment, files: ["/run/secrets/crm-client-secret": "from-file\n"]).get()
        let config = loaded.config
        #expect(config.routes.map(\.name) == ["billing", "crm", "legacy-app"])
        #expect(config.credential(named: "crm")?.grant == .password)
        #expect(config.introspectionProfile(named: "idp")?.maxEntries == 100_000)
        #expect(config.routes[0].stripPrefix)
        #expect(config.routes[2].validate?.requiredScopes == ["legacy:use"])
        // The example's ingress route checks scopes only: `check` points that out.
        #expect(loaded.warnings.map(\.description) == [
            #"routes[2].validate: checks neither "audience" nor "issuer": any active token the authorization server knows passes, tokens issued for other services included"#,
        ])
        let resolver = SecretResolver(environment: environment) { _ in Array("from-file\n".utf8) }
        #expect(try resolver.resolve(config.credential(named: "crm")!.clientSecret).revealed == "from-file")
        #expect(try resolver.resolve(config.credential(named: "billing-api")!.clientSecret).revealed == "b-secret")
    }

    @Test("defaults apply where keys are absent")
    func defaults() throws {
        let config = try load(egress()).get().config
        #expect(config.admin.address == BindAddress(host: "127.0.0.1", port: 9901))
        #expect(config.listeners[0].maxHeaderBytes == 32 * 1024)
        #expect(config.routes[0].timeouts == .defaults)
        #expect(config.routes[0].maxBodyBytes == 10 * 1024 * 1024)
        #expect(config.routes[0].stripPrefix == false)
        #expect(config.shutdown.grace == .seconds(25))
    }

    @Test(
        "bad documents report exactly the expected errors, each with its JSON path",
        arguments: [
            (egress(route: #", "upsteam": "x""#), [#"routes[0].upsteam: unknown key, did you mean "upstream"?"#]),
            (egress(extra: billingProfile, route: #", "credential": "billing-api""#),
             ["credentials.billing-api.client_secret: environment variable BILLING_SECRET is not set"]),
            (egress(route: #", "credential": "billing""#), [#"routes[0].credential: no credential profile named "billing" (none is defined)"#]),
            (egress().replacingOccurrences(of: "https://billing.example.com/api/", with: "api/"),
             [#"routes[0].upstream: must be an absolute http:// or https:// URL (got "api/")"#]),
            (egress().replacingOccurrences(of: #""listener": "egress""#, with: #""listener": "egres""#),
             [#"routes[0].listener: no listener named "egres", did you mean "egress"?"#]),
            (egress(route: #", "strip_prefix": "yes""#), ["routes[0].strip_prefix: expected true or false, got a string"]),
            (egress().replacingOccurrences(of: #""/billing/""#, with: #""billing""#), [#"routes[0].match.path_prefix: must start with "/" (got "billing")"#]),
            (egress().replacingOccurrences(of: #""/billing/""#, with: #""/a/../b/""#),
             [#"routes[0].match.path_prefix: must be a normalised path without ".", "..", "//" or encoded slashes (got "/a/../b/")"#]),
            (egress(listener: "127.0.0.1"), [#"listeners.egress.address: expected "host:port" (got "127.0.0.1")"#]),
            (egress(route: #", "timeouts": { "connect_seconds": 0 }"#), ["routes[0].timeouts.connect_seconds: must be a number of seconds from 0.001 (1 ms) to 600"]),
            (egress().replacingOccurrences(of: "https://billing.example.com/api/", with: "https://user:hunter2@billing.example.com/"),
             ["routes[0].upstream: must not contain user info; give credentials as secrets"]),
            (egress(extra: billingProfile, route: #", "credential": "billing-api""#, listener: "0.0.0.0:8081"),
             [#"routes[0].credential: injects credential "billing-api" on listener "egress" bound to 0.0.0.0:8081, which is not loopback: anyone who can reach that port would borrow this identity; add "validate" or set "allow_public_credential": true"#,
              "credentials.billing-api.client_secret: environment variable BILLING_SECRET is not set"]),
            (egress(extra: billingProfile.replacingOccurrences(of: #""client_id""#, with: #""header_scheme": "Bearer\r\nX-Evil: 1", "client_id""#),
                    route: #", "credential": "billing-api""#),
             ["credentials.billing-api.header_scheme: is not a valid authentication scheme (letters, digits and !#$%&'*+-.^_`|~ only)",
              "credentials.billing-api.client_secret: environment variable BILLING_SECRET is not set"]),
            (#"{ "listeners": {}, "routes": [] }"#, ["listeners: define at least one listener"]),
            (#"{ "routes": [] }"#, ["listeners: required key is missing"]),
            ("{ \"listeners\": {\n  \"a\": { \"address\": \"127.0.0.1:1\", }\n} }", [#"(document): invalid JSON at line 2, column 36: expected a quoted key"#]),
            (#"{ "listeners": { "a": { "address": "127.0.0.1:1" } }, "routes": [], "routes": [] }"#,
             [#"(document): invalid JSON at line 1, column 69: duplicate key "routes""#]),
            (#"{ "listeners": { "a": { "address": "127.0.0.1:1" } }, "rotues": [] }"#,
             [#"rotues: unknown key, did you mean "routes"?"#, "routes: required key is missing"]),
        ] as [(String, [String])]
    )
    func badDocuments(json: String, expected: [String]) {
        #expect(errors(json) == expected)
    }

    @Test("duplicate route names and identical matches are refused")
    func duplicateRoutes() {
        let json = """
        { "listeners": { "egress": { "address": "127.0.0.1:8081" } },
          "routes": [
            { "name": "a", "listener": "egress", "match": { "path_prefix": "/x/" }, "upstream": "http://127.0.0.1:1" },
            { "name": "a", "listener": "egress", "match": { "path_prefix": "/x/" }, "upstream": "http://127.0.0.1:2" } ] }
        """
        #expect(errors(json) == [
            #"routes[1].name: "a" is already the name of routes[0]"#,
            "routes[1].match: matches exactly the same requests as routes[0]; one of them could never serve",
        ])
    }

    @Test("grants: implicit is refused with a pointer to PKCE; password needs a user and a password")
    func grants() {
        let implicit = """
        { "listeners": { "egress": { "address": "127.0.0.1:8081" } },
          "credentials": { "p": { "grant": "implicit", "token_url": "https://idp/t", "client_id": "c", "client_secret": "s" } },
          "routes": [] }
        """
        #expect(errors(implicit) == [#"credentials.p.grant: the implicit grant is not offered (RFC 9700 §2.1.2: tokens in URLs leak); use authorization code with PKCE: a "login" profile on the route, or PKCE in the browser app with "validate" here"#])
        let code = implicit.replacingOccurrences(of: "\"implicit\"", with: "\"authorization_code\"")
        #expect(errors(code).first?.contains(#"define a "login" profile"#) == true)
        let password = """
        { "listeners": { "egress": { "address": "127.0.0.1:8081" } },
          "credentials": { "p": { "grant": "password", "token_url": "https://idp/t", "client_id": "c", "client_secret": "s" } },
          "routes": [] }
        """
        #expect(errors(password) == ["credentials.p.username: required key is missing", "credentials.p.password: required key is missing"])
    }

    @Test("file secrets that cannot be read are errors naming the key and the file")
    func unreadableFileSecret() {
        let json = egress(extra: billingProfile.replacingOccurrences(of: #"{ "env": "BILLING_SECRET" }"#, with: #"{ "file": "/run/secrets/missing" }"#), route: #", "credential": "billing-api""#)
        #expect(errors(json) == ["credentials.billing-api.client_secret: file /run/secrets/missing cannot be read (No such file or directory)"])
        #expect(errors(json, files: ["/run/secrets/missing": "\n"]) == ["credentials.billing-api.client_secret: file /run/secrets/missing is empty"])
        #expect(errors(json, files: ["/run/secrets/missing": "s3cr3t\n"]).isEmpty)
    }

    @Test("inline secrets work but are warned about")
    func inlineSecretWarning() throws {
        let json = egress(extra: billingProfile.replacingOccurrences(of: #"{ "env": "BILLING_SECRET" }"#, with: #""dev-only""#), route: #", "credential": "billing-api""#)
        let loaded = try load(json).get()
        #expect(loaded.warnings.map(\.description) == [#"credentials.billing-api.client_secret: secret is written inline; use {"env": NAME} or {"file": PATH} outside development"#])
    }

    @Test("no secret value ever appears in an error or warning")
    func secretsNeverInErrors() {
        let secretValues = ["inline-Sup3rSecret", "env-Sup3rSecret", "file-Sup3rSecret", "url-Sup3rSecret"]
        let json = """
        { "listeners": { "egress": { "address": "0.0.0.0:8081" } },
          "credentials": {
            "a": { "grant": "password", "token_url": "https://u:url-Sup3rSecret@idp/t", "client_id": "c",
                   "client_secret": "inline-Sup3rSecret", "username": "u", "password": { "env": "PW" }, "scope": 5 },
            "b": { "grant": "client_credentials", "token_url": "http://idp.example.com/t", "client_id": "c",
                   "client_secret": { "file": "/s" }, "extra_params": { "client_secret": "inline-Sup3rSecret" } } },
          "routes": [ { "name": "r", "listener": "egress", "match": { "path_prefix": "/" }, "upstream": "http://x", "credential": "a" } ] }
        """
        let result = load(json, environment: ["PW": "env-Sup3rSecret"], files: ["/s": "file-Sup3rSecret"])
        guard case .failure(let error) = result else {
            Issue.record("expected errors")
            return
        }
        #expect(error.issues.count >= 3)
        let text = error.description + (error.issues + error.warnings).map(\.description).joined()
        for secret in secretValues {
            #expect(!text.contains(secret), "error text leaks \(secret)")
        }
        #expect("\(Redacted("inline-Sup3rSecret"))" == "<redacted>")
        #expect(String(reflecting: Redacted("inline-Sup3rSecret")) == "<redacted>")
        // Libraries print what they are handed ("\(service)" in a debug log): whole values
        // holding secrets, or the process environment, print none of them.
        var dumped = ""
        dump(Redacted("inline-Sup3rSecret"), to: &dumped)
        let resolver = SecretResolver(environment: ["PW": "env-Sup3rSecret"])
        dump(resolver, to: &dumped)
        if case .success(let loaded) = load(#"{ "listeners": { "l": { "address": "127.0.0.1:0" } }, "routes": [], "credentials": { "c": { "grant": "client_credentials", "token_url": "http://127.0.0.1:1/t", "client_id": "c", "client_secret": "inline-Sup3rSecret" } } }"#) {
            dumped += "\(loaded) \(GatewayService(loaded: loaded, logger: Logger(label: "t"), resolver: resolver))"
            dump(loaded, to: &dumped)
        } else {
            Issue.record("the configuration with an inline secret should load")
        }
        #expect(!dumped.contains("Sup3r"))
        #expect("\(resolver)" == "SecretResolver(1 environment variables)")
    }
}

@Suite("Configuration rules against hostile or careless authorization-server settings")
struct ControlPlaneConfigTests {
    private let introspecting = """
    { "listeners": { "ingress": { "address": "127.0.0.1:8080" } },
      "introspection": { "idp": { "url": "URL", "client_id": "rs", "client_secret": { "env": "S" }EXTRA } },
      "routes": [ { "name": "app", "listener": "ingress", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:3000",
                    "validate": { "introspection": "idp"VALIDATE } } ] }
    """

    private func document(url: String = "https://idp.example.com/introspect", extra: String = "", validate: String = #", "audience": "app""#) -> String {
        introspecting.replacingOccurrences(of: "URL", with: url).replacingOccurrences(of: "EXTRA", with: extra)
            .replacingOccurrences(of: "VALIDATE", with: validate)
    }

    @Test("plain http to a remote authorization server is an error unless allow_insecure_http says so")
    func plainHTTPRefused() throws {
        #expect(errors(document(url: "http://idp.example.com/introspect"), environment: ["S": "x"]).contains {
            $0.hasPrefix("introspection.idp.url: plain http to a remote host") && $0.contains("allow_insecure_http")
        })
        let allowed = try load(document(url: "http://idp.example.com/introspect", extra: #", "allow_insecure_http": true"#), environment: ["S": "x"]).get()
        #expect(allowed.warnings.contains { $0.description.hasPrefix("introspection.idp.url: plain http") })
        #expect(errors(document(url: "http://127.0.0.1:9000/introspect"), environment: ["S": "x"]).isEmpty, "loopback is fine")
        let token = egress(
            extra: billingProfile.replacingOccurrences(of: "https://idp.example.com", with: "http://idp.example.com"),
            route: #", "credential": "billing-api""#
        )
        #expect(errors(token, environment: ["BILLING_SECRET": "x"]).contains { $0.hasPrefix("credentials.billing-api.token_url: plain http") })
    }

    @Test(
        "identity header names that frame, route, forward or authenticate are refused",
        arguments: ["Host", "Content-Length", "Transfer-Encoding", "Authorization", "X-Forwarded-For", "Connection", "Cookie", "X_Real_IP"]
    )
    func reservedIdentityHeaders(name: String) {
        let json = document(validate: #", "audience": "app", "identity_headers": { "\#(name)": "sub" }"#)
        #expect(errors(json, environment: ["S": "x"]).contains { $0.hasPrefix("routes[0].validate.identity_headers.\(name):") })
    }

    @Test("workers: a thread count from 1 to 512 or \"auto\"; auto is the CPUs the process may use")
    func workersSetting() throws {
        let auto = try load(egress()).get()
        #expect(auto.config.workers == nil)
        #expect(auto.config.workerCount == System.coreCount)
        #expect(try load(egress(extra: #""workers": "auto","#)).get().config.workers == nil)
        #expect(try load(egress(extra: #""workers": 1,"#)).get().config.workerCount == 1)
        #expect(try load(egress(extra: #""workers": 512,"#)).get().config.workerCount == 512)
        for bad in ["0", "513", "1.5", "-2", #""many""#, "true"] {
            let found = errors(egress(extra: "\"workers\": \(bad),"))
            #expect(found.count == 1 && found[0].contains("workers"), "workers: \(bad) → \(found)")
        }
    }

    @Test("check warns when a validating route checks neither audience nor issuer")
    func audienceOrIssuerWarning() throws {
        let open = try load(document(validate: ""), environment: ["S": "x"]).get()
        #expect(open.warnings.contains { $0.description.hasPrefix(#"routes[0].validate: checks neither "audience" nor "issuer""#) })
        let scoped = try load(document(validate: #", "issuer": "https://idp.example.com""#), environment: ["S": "x"]).get()
        #expect(!scoped.warnings.contains { $0.description.contains("checks neither") })
    }
}

@Suite("Request path normalisation")
struct RequestPathTests {
    @Test(arguments: [
        ("/", "/"), ("/a/b", "/a/b"), ("/a/b/", "/a/b/"), ("/a/./b", "/a/b"), ("/a/../b", "/b"), ("/a/b/..", "/a/"),
        ("//a///b", "/a/b"), ("/%41%7e", "/A~"), ("/%2a", "/%2A"), ("/a%20b", "/a%20b"),
    ])
    func accepted(raw: String, normalised: String) {
        #expect(RequestPath.normalize(raw) == normalised)
    }

    @Test(arguments: ["", "a", "/..", "/a/../..", "/%2F", "/%2f", "/%5C", "/%00", "/a\\b", "/%", "/%4", "/%zz", "/a b", "/é"])
    func refused(raw: String) {
        #expect(RequestPath.normalize(raw) == nil)
    }

    @Test func joinsUpstreamPaths() {
        #expect(RequestPath.join(base: "/api/", "/x") == "/api/x")
        #expect(RequestPath.join(base: "/api", "x") == "/api/x")
        #expect(RequestPath.join(base: "/", "/x") == "/x")
    }
}

@Suite("Configuration values that only look valid")
struct ConfigValueRuleTests {
    private static let notIPv4 = "a host of numbers must be an IPv4 address written as four decimal numbers from 0 to 255, like 127.0.0.1"

    @Test(
        "a listener host of numbers must be a dotted-quad IPv4 address, a bracketed one an IPv6 address: an error naming its path",
        arguments: ["999.0.0.1:80", "256.1.1.1:80", "1.2.3:80", "127.1:80", "0x7f.1:80", "0x7f000001:80", "2130706433:80",
                    "127.0.0.1.:80", "127.000.0.1:80", "[not-an-address]:80", "[127.0.0.1]:80"]
    )
    func numericListenerHosts(address: String) {
        let message = address.hasPrefix("[") ? "only an IPv6 address goes in brackets" : Self.notIPv4
        #expect(errors(egress(listener: address)) == [#"listeners.egress.address: \#(message) (got "\#(address)")"#])
    }

    @Test("real addresses and host names are still listener addresses", arguments: [
        "127.0.0.1:80", "0.0.0.0:8081", "[::1]:9901", "[::]:80", "[::ffff:127.0.0.1]:80", "localhost:80", "gateway-1.internal:80", "host.1a:80",
    ])
    func validListenerHosts(address: String) {
        #expect(errors(egress(listener: address)).isEmpty)
    }

    @Test("an upstream URL whose host is numbers but no IPv4 address is refused too")
    func numericUpstreamHost() {
        let json = egress().replacingOccurrences(of: "https://billing.example.com/api/", with: "http://999.0.0.1/api/")
        #expect(errors(json) == [#"routes[0].upstream: \#(Self.notIPv4) (got "http://999.0.0.1/api/")"#])
    }

    @Test("an unbracketed IPv6 upstream host is refused with the bracketed spelling; a parsed URL prints back as itself (found by fuzzing)")
    func unbracketedIPv6Upstream() throws {
        for text in ["http://::1:3000/", "http://a:b:80/u", "http://::1/"] {
            guard case .failure(let problem) = UpstreamURL.parse(text) else {
                Issue.record("\(text) was accepted")
                continue
            }
            #expect(problem.description.contains("brackets"), "\(text): \(problem)")
        }
        let bracketed = try UpstreamURL.parse("http://[::1]:3000/x").get()
        #expect(bracketed.host == "::1")
        #expect(try UpstreamURL.parse(bracketed.description).get() == bracketed)
    }

    @Test(
        "a duration that would round to 0 ms is an error naming its path; 1 ms is the floor",
        arguments: ["0", "1e-7", "0.0004", "-1"]
    )
    func durationsBelowOneMillisecond(value: String) {
        let listener = egress().replacingOccurrences(of: #""address": "127.0.0.1:8081" }"#, with: #""address": "127.0.0.1:8081", "idle_timeout_seconds": \#(value) }"#)
        #expect(errors(listener) == ["listeners.egress.idle_timeout_seconds: must be a number of seconds from 0.001 (1 ms) to 3600"])
        #expect(errors(egress(extra: #""shutdown": { "grace_seconds": \#(value) },"#)) == ["shutdown.grace_seconds: must be a number of seconds from 0.001 (1 ms) to 3600"])
        #expect(errors(egress(route: #", "timeouts": { "idle_seconds": \#(value) }"#)) == ["routes[0].timeouts.idle_seconds: must be a number of seconds from 0.001 (1 ms) to 86400"])
    }

    @Test("a duration of exactly 1 ms is accepted and kept")
    func oneMillisecond() throws {
        let json = egress().replacingOccurrences(of: #""address": "127.0.0.1:8081" }"#, with: #""address": "127.0.0.1:8081", "idle_timeout_seconds": 0.001 }"#)
        #expect(try load(json).get().config.listeners[0].idleTimeout == .milliseconds(1))
    }

    @Test("jwt.audience: [] or \"\" is an error naming its path, not a profile that silently accepts no token")
    func emptyJWTAudience() {
        func document(_ audience: String) -> String {
            """
            { "listeners": { "ingress": { "address": "0.0.0.0:8080" } },
              "jwt": { "idp": { "issuer": "https://idp.example.com", \(audience) } },
              "routes": [ { "name": "orders", "listener": "ingress", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:3000",
                            "validate": { "jwt": "idp" } } ] }
            """
        }
        let empty = #"jwt.idp.audience: list at least one audience: an empty list accepts no token (to accept tokens for every service of the issuer, leave it out and set "allow_any_audience": true)"#
        #expect(errors(document(#""audience": []"#)) == [empty])
        #expect(errors(document(#""audience": [], "allow_any_audience": true"#)) == [empty])
        #expect(errors(document(#""audience": """#)) == ["jwt.idp.audience: must not be empty"])
        #expect(errors(document(#""audience": ["orders"]"#)).isEmpty)
    }
}
