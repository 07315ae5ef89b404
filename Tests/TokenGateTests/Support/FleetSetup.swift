import Foundation
import Testing
@testable import TokenGate
import TokenGateSandbox

/// A fleet as operators run it: `count` real `tokengate run` processes, one real
/// PostgreSQL store (made here with `initdb` and `pg_ctl`), one app behind them, and a real
/// django-oauth-toolkit as the provider (its refresh tokens rotate and the old one dies at
/// once; `DjangoOAuthToolkit+Witness.swift` counts its token requests).
///
/// Every replica serves the same routes: `/` needs a login session (profile `portal`),
/// `/api/` takes bearer tokens introspected at the provider, `/open/` needs nothing, and
/// with `credential` `/billing/` carries the fleet's `shared` client-credentials token.
struct FleetSetup {
    let store: PostgresServer
    let dot: DjangoOAuthToolkit
    let echo: EchoUpstream
    let replicas: [FleetReplica]
    /// alice's primary key at the provider: the `sub` of her tokens.
    let alicePK: Int

    /// What every replica's configuration is made of.
    struct Options {
        var count = 3
        /// `revocation_poll_seconds`; long by default, so that a revocation reaching another
        /// replica within a second can only have come by notification.
        var poll = 30.0
        /// `session.store` of the login profile.
        var sessionStore = "cookie"
        /// The `shared` credential `billing` and its route `/billing/`.
        var credential = false
        /// The provider's access-token lifetime in seconds (below the 60 s refresh-ahead,
        /// a session is due for refresh as soon as it is made).
        var tokenLifetime = 300
        /// The replicas (by index) whose `/readyz` needs the store (`required_for_readiness`).
        var readinessNeedsStore: Set<Int> = []
    }

    static let sealKey = "fleet-seal-key-0123456789abcdef0123456789"
    static let cookieKey = "fleet-cookie-key-0123456789abcdef0123456789"

    static func start(_ options: Options = Options(), store existing: PostgresServer? = nil) async throws -> FleetSetup {
        let store = if let existing { existing } else { try await PostgresServer.start() }
        let dot = try await DjangoOAuthToolkit.start(tokenLifetime: options.tokenLifetime)
        let echo = try await EchoUpstream.start()
        var ports: [(main: Int, admin: Int)] = []
        for _ in 0..<options.count { ports.append((try await freeLoopbackPort(), try await freeLoopbackPort())) }
        let registration = try await dot.registerPortal(
            redirectURI: ports.map { "http://127.0.0.1:\($0.main)/.tokengate/callback" }.joined(separator: " "),
            postLogoutRedirectURI: ports.map { "http://127.0.0.1:\($0.main)/" }.joined(separator: " ")
        )
        let environment = environment(store: store)
        var replicas: [FleetReplica] = []
        for (index, (main, admin)) in ports.enumerated() {
            let config = configuration(options, dot: dot, echo: echo, port: main, adminPort: admin, needsStore: options.readinessNeedsStore.contains(index))
            replicas.append(try await FleetReplica.start(config: config, environment: environment, port: main, adminPort: admin, issuer: dot.issuer))
        }
        return FleetSetup(store: store, dot: dot, echo: echo, replicas: replicas, alicePK: registration.userPK)
    }

    /// The secrets a replica's configuration names, registered with the leak check.
    static func environment(store: PostgresServer) -> [String: String] {
        LeakWatch.register([sealKey, cookieKey, store.password, store.url])
        return [
            "STORE_URL": store.url, "SEAL_KEY": sealKey, "COOKIE_KEY": cookieKey, "PORTAL_SECRET": DjangoOAuthToolkit.portal.secret,
            "RS_SECRET": DjangoOAuthToolkit.resourceServer.secret, "BILLING_SECRET": DjangoOAuthToolkit.billingClient.secret,
        ]
    }

    /// One replica's `gateway.json`.
    static func configuration(_ options: Options, dot: DjangoOAuthToolkit, echo: EchoUpstream, port: Int, adminPort: Int, needsStore: Bool = false) -> String {
        let upstream = "http://127.0.0.1:\(echo.port)/"
        let credentials = options.credential ? """
          "credentials": { "billing": { "grant": "client_credentials", "token_url": "\(dot.tokenURL)", "client_id": "\(DjangoOAuthToolkit.billingClient.id)",
                                        "client_secret": { "env": "BILLING_SECRET" }, "shared": true } },
        """ : ""
        let billing = options.credential ? """
            { "name": "billing", "listener": "main", "match": { "path_prefix": "/billing/" }, "strip_prefix": true, "upstream": "\(upstream)", "credential": "billing" },
        """ : ""
        return """
        { "listeners": { "main": { "address": "127.0.0.1:\(port)" } }, "admin": { "address": "127.0.0.1:\(adminPort)" },
          "store": { "postgres": { "url": { "env": "STORE_URL" } }, "revocation_poll_seconds": \(options.poll), "required_for_readiness": \(needsStore),
                     "seal_keys": [ { "id": "s1", "secret": { "env": "SEAL_KEY" } } ] },
          "login": { "portal": { "issuer": "\(dot.issuer)", "client_id": "\(DjangoOAuthToolkit.portal.id)", "client_secret": { "env": "PORTAL_SECRET" },
                                 "cookie_keys": [ { "id": "k1", "secret": { "env": "COOKIE_KEY" } } ], "external_url": "http://127.0.0.1:\(port)",
                                 "pass_access_token": true, "session": { "store": "\(options.sessionStore)" } } },
          "introspection": { "dot": { "url": "\(dot.introspectionURL)", "client_id": "\(DjangoOAuthToolkit.resourceServer.id)",
                                      "client_secret": { "env": "RS_SECRET" }, "cache": { "max_ttl_seconds": 300 } } },
        \(credentials)
          "routes": [
            { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "upstream": "\(upstream)",
              "validate": { "introspection": "dot", "required_scopes": ["legacy:use"] } },
            { "name": "open", "listener": "main", "match": { "path_prefix": "/open/" }, "upstream": "\(upstream)" },
        \(billing)
            { "name": "app", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "\(upstream)", "login": "portal" } ] }
        """
    }

    /// Refresh grants the provider was sent for the login client.
    func refreshGrants() async throws -> Int {
        try await dot.witness().requests(client: DjangoOAuthToolkit.portal.id, grant: "refresh_token")
    }

    /// Signs `browser` in as alice through `replica` (at Django's login page the first
    /// time, by the provider's session after that); returns the replica's session cookie.
    func logIn(_ browser: CookieBrowser, at replica: FleetReplica, path: String = "/dashboard") async throws -> String {
        let first = try await browser.request(replica.base + path)
        #expect(first.response.status == 302)
        let authorization = try #require(first.location)
        #expect(authorization.hasPrefix(dot.issuer + "/authorize/"))
        let callback = try await dot.authorize(browser, authorization)
        #expect(callback.hasPrefix(replica.base + "/.tokengate/callback?"))
        let landed = try await browser.request(callback)
        #expect(landed.response.status == 302 && landed.location == path, "back where the login started")
        return try #require(browser.cookies(at: replica.origin)[replica.sessionCookie], "a session cookie from \(replica.base)")
    }

    /// A back-channel logout token for alice, signed with the provider's own key, with a jti of its own.
    func logoutToken() async throws -> String {
        let now = Int(Date().timeIntervalSince1970)
        return try await dot.mintJWT(header: ["typ": "logout+jwt"], claims: [
            "iss": dot.issuer, "aud": DjangoOAuthToolkit.portal.id, "iat": now, "exp": now + 120, "jti": UUID().uuidString,
            "sub": String(alicePK), "events": ["http://schemas.openid.net/event/backchannel-logout": [String: Any]()],
        ])
    }

    /// Posts a back-channel logout token to a replica, as the provider would.
    func postLogoutToken(_ token: String, to replica: FleetReplica) async throws -> TestResponse {
        let body = "logout_token=" + FormEncoding.escape(token)
        return try #require(try await RawHTTPConnection.roundTrip(
            port: replica.port,
            "POST /.tokengate/backchannel-logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        ))
    }

    /// A bearer token for the `/api/` routes: opaque, introspected at the provider.
    func callerToken() async throws -> String {
        let token = try await dot.clientCredentialsToken(DjangoOAuthToolkit.caller, scope: "legacy:use")
        LeakWatch.register([token])
        return token
    }

    /// Checks that a `pg_dump` of the store holds none of the tokens the provider issued
    /// (access, refresh and ID tokens, as its witness saw them answered) and no secret the
    /// leak check knows; returns the dump.
    @discardableResult
    func expectDumpHoldsNoToken(sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let dump = try await store.dump()
        let issued = try await dot.witness().issued
        #expect(!issued.isEmpty, "the provider issued tokens", sourceLocation: sourceLocation)
        let found = issued.filter { dump.contains($0) }.count
        #expect(found == 0, "\(found) of the provider's \(issued.count) tokens are in the store's dump", sourceLocation: sourceLocation)
        LeakWatch.register(issued)
        LeakWatch.expectNoLeaks(in: dump, "the store's dump", sourceLocation: sourceLocation)
        return dump
    }

    /// `POST /revoke` on a replica's admin listener.
    func revoke(at replica: FleetReplica, _ json: String) async throws -> TestResponse {
        try #require(try await RawHTTPConnection.roundTrip(
            port: replica.adminPort,
            "POST /revoke HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)"
        ))
    }

    /// Stops the replicas first (each checks its output for leaks, so every token the
    /// provider issued is registered before), then the provider, app and store.
    func stop() async {
        let issued = (try? await dot.witness().issued) ?? []
        LeakWatch.register(issued)
        try? await dot.registerSecrets(expectTokens: !issued.isEmpty)
        for replica in replicas { await replica.stop() }
        dot.stop()
        await echo.stop()
        await store.stop()
    }
}

/// One `tokengate run` process of a fleet.
struct FleetReplica: Sendable {
    let process: GatewayProcess
    let directory: TemporaryDirectory
    let port: Int
    let adminPort: Int
    /// The login profile's session cookie name (plain http on loopback: no `__Host-`).
    let sessionCookie: String
    var base: String { "http://127.0.0.1:\(port)" }
    var origin: String { "127.0.0.1:\(port)" }

    /// Writes `config`, starts the process and waits until it is ready (its provider's
    /// discovery read, its store joined).
    static func start(config: String, environment: [String: String], port: Int, adminPort: Int, issuer: String) async throws -> FleetReplica {
        let directory = try TemporaryDirectory()
        let file = try directory.write("gateway.json", config)
        let process = try GatewayProcess(config: file, environment: environment)
        let replica = FleetReplica(
            process: process, directory: directory, port: port, adminPort: adminPort,
            sessionCookie: LoginCookies(secure: false, scope: CookieScope(profile: "portal", issuer: issuer)).session
        )
        _ = try await process.port(ofListener: "main")
        let ready = await eventually(within: .seconds(30)) { (try? await replica.admin("/readyz"))?.status == 200 }
        #expect(ready, "replica on \(port) ready: \(process.logLines.suffix(5).joined(separator: "\n"))")
        return replica
    }

    func get(_ path: String, headers: String = "") async throws -> TestResponse {
        try #require(try await RawHTTPConnection.roundTrip(port: port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(headers)Connection: close\r\n\r\n"))
    }

    func admin(_ path: String) async throws -> TestResponse {
        try #require(try await RawHTTPConnection.roundTrip(port: adminPort, "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
    }

    var adminURL: String { "http://127.0.0.1:\(adminPort)" }

    /// `/status` as JSON, and its `store` part.
    func status() async throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(try await admin("/status").body)) as? [String: Any])
    }

    func storeStatus() async throws -> [String: Any] {
        try #require(try await status()["store"] as? [String: Any])
    }

    /// The status a fresh browser gets for `path` holding only this session cookie (a copy
    /// kept by someone else, a replay).
    func status(withSession cookie: String, _ path: String = "/x") async throws -> Int {
        let browser = CookieBrowser()
        browser.setCookie(sessionCookie, cookie, at: origin)
        return try await browser.request(base + path).response.status
    }

    /// The status of `/api/x` with `token` as the bearer.
    func bearerStatus(_ token: String) async throws -> Int {
        try await get("/api/x", headers: "Authorization: Bearer \(token)\r\n").status
    }

    func stop(sourceLocation: SourceLocation = #_sourceLocation) async {
        await process.stop(sourceLocation: sourceLocation)
        directory.remove()
    }
}
