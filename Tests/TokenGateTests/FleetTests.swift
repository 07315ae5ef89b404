import Foundation
import Testing
@testable import TokenGate
import TokenGateSandbox

/// Three real gateways sharing one real PostgreSQL store (started here with `initdb` and
/// `pg_ctl`), in front of the sandbox provider: what one replica learns holds for all.
struct FleetSetup {
    let store: PostgresServer
    let idp: SandboxAuthorizationServer
    let replicas: [LoginSetup]

    /// `poll`: `revocation_poll_seconds`; long by default, so that a revocation reaching
    /// another replica within a second can only have come by notification.
    /// `sandbox`: the provider's configuration (the demo's, with JWT clients, by default);
    /// `profileExtras`: more of the login profile's keys.
    static func start(
        count: Int = 3, poll: Double = 30, storeExtras: String = "", store existing: PostgresServer? = nil,
        sandbox: SandboxAuthorizationServer.Configuration? = nil, profileExtras: String = ""
    ) async throws -> FleetSetup {
        let store = if let existing { existing } else { try await PostgresServer.start() }
        let idp = if let sandbox { try await startSandbox(sandbox) } else { try await JWTSetup.startSandbox() }
        var replicas: [LoginSetup] = []
        let extras = #", "store": { "postgres": { "url": { "env": "STORE_URL" } }, "revocation_poll_seconds": \#(poll)\#(storeExtras) }"#
        for _ in 0..<count {
            replicas.append(try await LoginSetup.start(
                profileExtras: profileExtras, environment: ["STORE_URL": store.url, "SEAL_KEY": sealKey], idp: idp, topExtras: extras
            ))
        }
        return FleetSetup(store: store, idp: idp, replicas: replicas)
    }

    /// The store's seal key (`storeExtras: FleetSetup.sealKeys`).
    static let sealKey = "seal-key-0123456789abcdef0123456789"
    static let sealKeys = #", "seal_keys": [ { "id": "s1", "secret": { "env": "SEAL_KEY" } } ]"#

    /// Refresh grants the provider answered.
    var refreshGrants: Int { idp.requests(.token).filter { $0.formValue("grant_type") == "refresh_token" }.count }

    /// `POST /revoke` on a replica's admin listener.
    func revoke(at replica: LoginSetup, _ json: String) async throws -> TestResponse {
        try #require(try await RawHTTPConnection.roundTrip(
            port: replica.gateway.gateway.adminPort ?? 0,
            "POST /revoke HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)"
        ))
    }

    /// A replica's `/status` as JSON.
    func status(_ replica: LoginSetup) async throws -> [String: Any] {
        let answer = try await replica.gateway.admin("/status")
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
    }

    func storeStatus(_ replica: LoginSetup) async throws -> [String: Any] {
        try #require(try await status(replica)["store"] as? [String: Any])
    }

    func stop() async {
        for replica in replicas { await replica.stopKeepingProvider() }
        await idp.stop()
        await store.stop()
    }
}

@Suite("A fleet of gateways on one PostgreSQL store: revocations, logouts and logout tokens hold on every replica", .serialized)
struct FleetTests {
    @Test("a logout on one replica ends the cookie's copies on the others within a second; a back-channel logout at one ends the session everywhere, and its token replayed to another is refused")
    func logoutsAcrossReplicas() async throws {
        let fleet = try await FleetSetup.start()
        let (a, b, c) = (fleet.replicas[0], fleet.replicas[1], fleet.replicas[2])
        let browser = CookieBrowser()
        _ = try await a.logIn(browser)
        let cookie = try #require(browser.cookies(at: a.origin)[a.sessionCookie])
        #expect(try await b.status(withSession: cookie) == 200, "a cookie session opens on every replica")
        #expect(try await c.status(withSession: cookie) == 200)
        _ = try await browser.request(a.base + "/.tokengate/logout")
        #expect(try await a.status(withSession: cookie) == 302)
        #expect(try await eventually(within: .seconds(1)) { try await b.status(withSession: cookie) == 302 }, "B refuses the logged-out copy")
        #expect(try await eventually(within: .seconds(1)) { try await c.status(withSession: cookie) == 302 }, "so does C")

        // Back-channel logout: the provider tells one replica; the others hear of it.
        let second = CookieBrowser()
        _ = try await a.logIn(second)
        let secondCookie = try #require(second.cookies(at: a.origin)[a.sessionCookie])
        #expect(try await b.status(withSession: secondCookie) == 200)
        let now = Int(Date().timeIntervalSince1970)
        let token = try fleet.idp.mintJWT(header: ["typ": "logout+jwt"], claims: [
            "iss": fleet.idp.issuer, "aud": "legacy-portal", "iat": now, "exp": now + 120, "jti": UUID().uuidString, "sub": "alice",
            "events": ["http://schemas.openid.net/event/backchannel-logout": [String: Any]()],
        ])
        func post(_ token: String, to replica: LoginSetup) async throws -> TestResponse {
            let body = "logout_token=" + FormEncoding.escape(token)
            return try #require(try await RawHTTPConnection.roundTrip(
                port: replica.port,
                "POST /.tokengate/backchannel-logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            ))
        }
        #expect(try await post(token, to: a).status == 200)
        // 3 s, not 1: in a CI run with every suite in parallel on two cores this once took
        // longer than a second (the benchmark's propagation is 8 ms median, 15 ms max).
        #expect(try await eventually(within: .seconds(3)) { try await b.status(withSession: secondCookie) == 302 }, "the session ends on B")
        let replayed = try await post(token, to: c)
        #expect(replayed.status == 400, "the logout token replayed to C is refused")
        #expect(replayed.bodyText.contains("another replica"))
        await fleet.stop()
    }

    @Test("POST /revoke of a token at one replica makes the others answer 401 for it within a second; by sub, every session of the user on every replica ends; the store's dump holds no token")
    func revokeAcrossReplicas() async throws {
        let fleet = try await FleetSetup.start()
        let (a, b, c) = (fleet.replicas[0], fleet.replicas[1], fleet.replicas[2])
        let now = Int(Date().timeIntervalSince1970)
        let token = try fleet.idp.mintJWT(claims: [
            "iss": fleet.idp.issuer, "sub": "bob", "aud": JWTSetup.audience, "client_id": "demo-caller", "scope": "legacy:use",
            "iat": now, "exp": now + 600, "jti": UUID().uuidString,
        ])
        LeakWatch.register([token])
        func bearer(_ replica: LoginSetup) async throws -> Int {
            try #require(try await RawHTTPConnection.roundTrip(
                port: replica.port, "GET /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
            )).status
        }
        #expect(try await bearer(b) == 200, "valid, and now in B's cache")
        // `tokengate revoke` reads the token from standard input and posts it to A.
        let admin = "http://127.0.0.1:\(a.gateway.gateway.adminPort ?? 0)"
        let revoked = try await runTokenGate(["revoke", "--token-stdin", "--admin", admin], input: token + "\n")
        #expect(revoked.status == 0, "\(revoked.stderr)")
        #expect(revoked.stdout.contains(#""revoked":"token""#) && revoked.stdout.contains("queued for the fleet"))
        LeakWatch.expectNoLeaks(in: revoked.stdout + revoked.stderr, "tokengate revoke's output")
        #expect(try await bearer(a) == 401, "refused at once where it was revoked")
        #expect(try await eventually(within: .seconds(1)) { try await bearer(b) == 401 }, "B refuses it although its cache said valid")
        #expect(try await eventually(within: .seconds(1)) { try await bearer(c) == 401 })
        let table = try await runTokenGate(["status", "--admin", admin])
        #expect(table.stdout.contains("STORE") && table.stdout.contains("REVOKED TOKENS"), "\(table.stdout)")
        #expect(try await fleet.revoke(at: a, #"{"token": "x", "profile": "portal"}"#).status == 400, "a bad body is refused, naming why")

        // By subject: every session of alice, on every replica.
        let browsers = [CookieBrowser(), CookieBrowser()]
        var cookies: [String] = []
        for (index, browser) in browsers.enumerated() {
            let replica = fleet.replicas[index]
            _ = try await replica.logIn(browser)
            cookies.append(try #require(browser.cookies(at: replica.origin)[replica.sessionCookie]))
        }
        for cookie in cookies { #expect(try await c.status(withSession: cookie) == 200) }
        #expect(try await fleet.revoke(at: c, #"{"sub": "alice", "profile": "portal"}"#).status == 200)
        for cookie in cookies {
            for replica in fleet.replicas {
                #expect(try await eventually(within: .seconds(1)) { try await replica.status(withSession: cookie) == 302 })
            }
        }
        // A new login after the revocation is a new session.
        let later = CookieBrowser()
        _ = try await b.logIn(later)
        #expect(try await later.request(b.base + "/x").response.status == 200)

        let dump = try await fleet.store.dump()
        #expect(dump.contains("tokengate_revocations"), "the dump is of the store's tables")
        #expect(!dump.contains(token), "no bearer token")
        for cookie in cookies { #expect(!dump.contains(cookie), "no session cookie") }
        #expect(!dump.contains("alice"), "no subject: rows hold digests")
        LeakWatch.expectNoLeaks(in: dump, "the store's dump")
        await fleet.stop()
    }

    @Test("the store stopped: serving goes on, revocations made meanwhile reach the other replicas once it is back; a read-only server is never written")
    func storeUnavailable() async throws {
        let fleet = try await FleetSetup.start(count: 2, poll: 0.5)
        let (a, b) = (fleet.replicas[0], fleet.replicas[1])
        let browser = CookieBrowser()
        _ = try await a.logIn(browser)
        let cookie = try #require(browser.cookies(at: a.origin)[a.sessionCookie])

        try await fleet.store.stopServer()
        #expect(try await eventually(within: .seconds(10)) { (try await a.gateway.admin("/metrics")).bodyText.contains("tokengate_store_up 0") })
        #expect(try await b.status(withSession: cookie) == 200, "cookie sessions do not need the store")
        #expect(try await b.status(withSession: "", "/open/x") == 200)
        #expect(try await fleet.revoke(at: a, #"{"sub": "alice"}"#).status == 200)
        #expect(try await a.status(withSession: cookie) == 302, "in force here at once")
        #expect(try await fleet.storeStatus(a)["pending_revocations"] as? Int == 1)
        #expect(try await fleet.storeStatus(a)["up"] as? Bool == false)
        #expect(try await a.gateway.admin("/readyz").status == 200, "a degraded store does not make the gateway unready unless configured")

        try await fleet.store.startServer(readOnly: false)
        #expect(try await eventually(within: .seconds(30)) { try await b.status(withSession: cookie) == 302 }, "B hears of it once the store is back")
        #expect(try await eventually(within: .seconds(5)) { try await fleet.storeStatus(a)["pending_revocations"] as? Int == 0 })

        // A standby: read, never written.
        let rows = try await fleet.store.psql("SELECT count(*) FROM tokengate_revocations")
        try await fleet.store.stopServer()
        try await fleet.store.startServer(readOnly: true)
        #expect(try await eventually(within: .seconds(30)) { try await fleet.storeStatus(a)["read_only"] as? Bool == true })
        #expect(try await fleet.revoke(at: a, #"{"sid": "provider-session-1"}"#).status == 200)
        #expect(try await eventually(within: .seconds(5)) { try await fleet.storeStatus(a)["pending_revocations"] as? Int == 1 })
        #expect(try await fleet.store.psql("SELECT count(*) FROM tokengate_revocations") == rows, "nothing written to the read-only server")
        try await fleet.store.stopServer()
        try await fleet.store.startServer(readOnly: false)
        #expect(try await eventually(within: .seconds(30)) { try await fleet.storeStatus(a)["pending_revocations"] as? Int == 0 }, "written once a primary is back")
        #expect(try await fleet.store.psql("SELECT count(*) FROM tokengate_revocations") != rows)
        await fleet.stop()
    }

    @Test("three replicas with a shared credential and 2 s tokens: about one token request per refresh window for the fleet, not one per replica, and every request carries a valid token")
    func sharedCredential() async throws {
        let store = try await PostgresServer.start()
        var sandbox = SandboxAuthorizationServer.Configuration.demo
        sandbox.accessTokenLifetime = .seconds(2)
        let idp = try await startSandbox(sandbox)
        let echo = try await EchoUpstream.start()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "store": { "postgres": { "url": { "env": "STORE_URL" } }, "seal_keys": [ { "id": "s1", "secret": { "env": "SEAL_KEY" } } ] },
          "credentials": { "billing": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                                        "client_secret": { "env": "BILLING_SECRET" }, "shared": true } },
          "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "strip_prefix": true,
                        "upstream": "http://127.0.0.1:\(echo.port)/", "credential": "billing" } ] }
        """
        let environment = ["STORE_URL": store.url, "SEAL_KEY": "seal-key-0123456789abcdef0123456789", "BILLING_SECRET": OutboundSetup.secret]
        var replicas: [TestGateway] = []
        for _ in 0..<3 { replicas.append(try await TestGateway.start(config, environment: environment)) }
        let window = 2.0 * 0.8  // the lifetime times the default refresh_at_lifetime_fraction
        let started = ContinuousClock.now
        var answered = 0
        var failed = 0
        // Bounded: 10 s of requests, round robin over the replicas.
        while ContinuousClock.now - started < .seconds(10), answered < 100_000 {
            let replica = replicas[answered % 3]
            let response = try #require(try await RawHTTPConnection.roundTrip(port: replica.port(), "GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
            if response.status != 200 { failed += 1 }
            answered += 1
        }
        let elapsed = Double((ContinuousClock.now - started).components.seconds)
        let tokenRequests = idp.requests(.token).count
        let windows = elapsed / window + 1
        #expect(failed == 0, "every request had a token")
        #expect(Double(tokenRequests) <= 1.5 * windows, "\(tokenRequests) token requests in \(windows) refresh windows")
        var taken = 0
        for replica in replicas {
            let metrics = try await replica.admin("/metrics").bodyText
            let prefix = #"tokengate_token_shared_taken_total{profile="billing"} "#
            taken += metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }.map { Int($0) } ?? 0
        }
        #expect(taken > 0, "replicas took the fleet's token")
        let dump = try await store.dump()
        #expect(dump.contains("tokengate_credentials"))
        LeakWatch.expectNoLeaks(in: dump, "the store's dump (sealed tokens only)")
        for replica in replicas { await replica.stop() }
        await echo.stop()
        await idp.stop()
        await store.stop()
    }

    @Test("a store emptied under a running fleet gets its tables back, and revocations flow again without a restart")
    func emptiedStore() async throws {
        let fleet = try await FleetSetup.start(count: 2, poll: 0.5)
        let (a, b) = (fleet.replicas[0], fleet.replicas[1])
        let browser = CookieBrowser()
        _ = try await a.logIn(browser)
        let cookie = try #require(browser.cookies(at: a.origin)[a.sessionCookie])
        _ = try await fleet.store.psql("DROP TABLE tokengate_revocations, tokengate_logout_tokens, tokengate_credentials, tokengate_schema")
        #expect(await eventually(within: .seconds(20)) {
            (try? await fleet.store.psql("SELECT count(*) FROM tokengate_schema")) != nil
        }, "the tables are made again")
        #expect(try await fleet.revoke(at: a, #"{"sub": "alice"}"#).status == 200)
        #expect(try await eventually(within: .seconds(20)) { try await b.status(withSession: cookie) == 302 })
        // One table dropped from a schema that still says it is current: made again too.
        _ = try await fleet.store.psql("DROP TABLE tokengate_revocations")
        #expect(await eventually(within: .seconds(20)) {
            (try? await fleet.store.psql("SELECT count(*) FROM tokengate_revocations")) != nil
        }, "the missing table is made again")
        #expect(try await fleet.revoke(at: b, #"{"sid": "provider-session-2"}"#).status == 200)
        #expect(try await eventually(within: .seconds(20)) { try await fleet.storeStatus(b)["pending_revocations"] as? Int == 0 }, "and written to")
        await fleet.stop()
    }

    @Test("a gateway refuses to start against a store whose schema is newer than it knows, and says so")
    func newerSchema() async throws {
        let store = try await PostgresServer.start()
        let fleet = try await FleetSetup.start(count: 1, store: store)
        await fleet.replicas[0].stopKeepingProvider()
        _ = try await store.psql("INSERT INTO tokengate_schema (version) VALUES (\(StoreSchema.currentVersion + 1))")
        do {
            let replica = try await LoginSetup.start(environment: ["STORE_URL": store.url], idp: fleet.idp, topExtras: #", "store": { "postgres": { "url": { "env": "STORE_URL" } } }"#)
            await replica.stopKeepingProvider()
            Issue.record("the gateway started against a newer schema")
        } catch let error as ConfigurationError {
            #expect(error.description.contains("newer than the \(StoreSchema.currentVersion) this gateway knows"))
            #expect(!error.description.contains(store.password), "the store's password is never shown")
        }
        await fleet.idp.stop()
        await store.stop()
    }
}
