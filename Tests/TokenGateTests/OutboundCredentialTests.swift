import Foundation
import Testing
@testable import TokenGate
import TokenGateSandbox

/// A gateway whose route `/api/` injects the `billing` profile's token, against the sandbox.
struct OutboundSetup {
    let idp: SandboxAuthorizationServer
    let echo: EchoUpstream
    let gateway: TestGateway

    static let secret = "demo-billing-secret"

    static func start(
        sandbox: SandboxAuthorizationServer.Configuration = .demo, profileExtras: String = "", clientSecret: String = #"{ "env": "BILLING_SECRET" }"#,
        environment: [String: String] = ["BILLING_SECRET": secret], unchallengedRejectionMinAge: Duration? = nil,
        beforeGateway: (SandboxAuthorizationServer) -> Void = { _ in }
    ) async throws -> OutboundSetup {
        let idp = try await startSandbox(sandbox)
        let echo = try await EchoUpstream.start()
        beforeGateway(idp)
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "credentials": { "billing": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                                        "client_secret": \(clientSecret)\(profileExtras) } },
          "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "strip_prefix": true,
                        "upstream": "http://127.0.0.1:\(echo.port)/", "credential": "billing" } ] }
        """
        let gateway = try await TestGateway.start(config, environment: environment) { loaded in
            guard let unchallengedRejectionMinAge else { return }
            for index in loaded.config.credentials.indices {
                loaded.config.credentials[index].unchallengedRejectionMinAge = unchallengedRejectionMinAge
            }
        }
        return OutboundSetup(idp: idp, echo: echo, gateway: gateway)
    }

    func get(_ path: String = "/api/x", headers: String = "") async throws -> TestResponse {
        let client = try await gateway.connect()
        try await client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\(headers)Connection: close\r\n\r\n")
        let response = try await client.readResponse()
        await client.close()
        guard let response else { throw NotAnEchoResponse(response: nil) }
        return response
    }

    func stop() async {
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }
}

func json(_ response: TestResponse) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
}

@Suite("Outbound credentials against the sandbox")
struct OutboundCredentialTests {
    @Test("the upstream receives the profile's token, never the client's Authorization")
    func injectsToken() async throws {
        let setup = try await OutboundSetup.start()
        let response = try await setup.get(headers: "Authorization: Bearer client-supplied\r\n")
        #expect(response.status == 200)
        let seen = try #require(EchoReport(response))
        let issued = try #require(setup.idp.issuedAccessTokens.last)
        #expect(seen.values("authorization") == ["Bearer \(issued)"])
        #expect(setup.idp.calls(.token) == 1)
        await setup.stop()
    }

    @Test("64 concurrent requests at start-up cause one token request")
    func singleFlight() async throws {
        let setup = try await OutboundSetup.start { idp in idp.setFault(.delay(.milliseconds(300)), on: .token) }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<64 { group.addTask { try await setup.get().status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.count == 64)
        #expect(statuses.allSatisfy { $0 == 200 })
        #expect(setup.idp.calls(.token) == 1)
        await setup.stop()
    }

    @Test("endpoint down at start: 503 naming route, profile and cause, with Retry-After; then recovery")
    func endpointDownAtStart() async throws {
        let setup = try await OutboundSetup.start { idp in idp.setFault(.status(503), on: .token) }
        let refused = try await setup.get()
        #expect(refused.status == 503)
        let body = json(refused)
        #expect(body["error"] as? String == "credential_unavailable")
        #expect(body["route"] as? String == "api")
        #expect(body["credential"] as? String == "billing")
        #expect(body["detail"] as? String == "the token endpoint answered 503")
        #expect(body["cause"] as? String == "server_error")
        #expect(Int(refused.header("retry-after") ?? "") ?? 0 >= 1)
        #expect(setup.echo.requestCount == 0, "never forwarded without its credential")
        setup.idp.setFault(nil, on: .token)
        let recovered = await eventually(within: .seconds(10)) { (try? await setup.get().status) == 200 }
        #expect(recovered)
        await setup.stop()
    }

    @Test("the token endpoint failing while a valid token exists: requests keep succeeding")
    func failureWithValidToken() async throws {
        var sandbox = SandboxAuthorizationServer.Configuration.demo
        sandbox.accessTokenLifetime = .seconds(30)
        let setup = try await OutboundSetup.start(sandbox: sandbox, profileExtras: #", "refresh_at_lifetime_fraction": 0.11"#)
        #expect(try await setup.get().status == 200)
        setup.idp.setFault(.status(500), on: .token)
        // The refresh is due after 3.3 s and fails; the token stays valid until 30 s.
        #expect(await eventually(within: .seconds(10)) { setup.idp.calls(.token) >= 2 })
        #expect(try await setup.get().status == 200)
        await setup.stop()
    }

    @Test("429 with Retry-After is honoured before the next attempt")
    func rateLimited() async throws {
        let setup = try await OutboundSetup.start { idp in idp.setFault(.status(429, retryAfter: 3), on: .token, times: 1) }
        let refused = try await setup.get()
        #expect(refused.status == 503)
        #expect(Int(refused.header("retry-after") ?? "") ?? 0 >= 2)
        #expect(await eventually(within: .seconds(8)) { (try? await setup.get().status) == 200 })
        let attempts = setup.idp.requests(.token)
        #expect(attempts.count == 2, "one refused attempt, then one that succeeded")
        if attempts.count >= 2 {
            #expect(attempts[1].receivedAt - attempts[0].receivedAt >= .seconds(3), "no second attempt inside Retry-After")
        }
        await setup.stop()
    }

    @Test("a malformed token response is a 503 naming the problem")
    func malformedResponse() async throws {
        let setup = try await OutboundSetup.start { idp in idp.setFault(.malformedJSON, on: .token) }
        let refused = try await setup.get()
        #expect(refused.status == 503)
        #expect(json(refused)["detail"] as? String == "the token endpoint's answer could not be used")
        #expect(json(refused)["cause"] as? String == "malformed_response")
        #expect(setup.gateway.logs.all.contains { $0.contains("token endpoint response is not a JSON object") }, "the cause is logged")
        await setup.stop()
    }

    @Test("a wrong client secret is a 503 and logged as a configuration problem")
    func wrongSecret() async throws {
        let setup = try await OutboundSetup.start(environment: ["BILLING_SECRET": "wrong-secret"])
        let refused = try await setup.get()
        #expect(refused.status == 503)
        #expect(json(refused)["detail"] as? String == "the token endpoint refused the token request (401)")
        #expect(!refused.bodyText.contains("invalid_client"), "the authorization server's words stay in the log")
        #expect(setup.gateway.logs.all.contains { $0.contains("configuration problem") && $0.contains("invalid_client") })
        await setup.stop()
    }

    @Test("a token type other than Bearer is refused, not forwarded")
    func nonBearer() async throws {
        var sandbox = SandboxAuthorizationServer.Configuration.demo
        sandbox.tokenType = "mac"
        let setup = try await OutboundSetup.start(sandbox: sandbox)
        let refused = try await setup.get()
        #expect(refused.status == 503)
        #expect(json(refused)["cause"] as? String == "unsupported_token_type")
        #expect(setup.echo.requestCount == 0)
        await setup.stop()
    }

    @Test("without expires_in the configured default lifetime drives the refresh")
    func defaultLifetime() async throws {
        var sandbox = SandboxAuthorizationServer.Configuration.demo
        sandbox.sendsExpiresIn = false
        let setup = try await OutboundSetup.start(sandbox: sandbox, profileExtras: #", "default_lifetime_seconds": 1, "refresh_at_lifetime_fraction": 0.5"#)
        #expect(try await setup.get().status == 200)
        #expect(await eventually(within: .seconds(5)) { setup.idp.calls(.token) >= 3 })
        await setup.stop()
    }

    @Test("upstream 401 once: the token is replaced and the request retried once, body intact")
    func upstream401Once() async throws {
        let setup = try await OutboundSetup.start()
        #expect(try await setup.get().status == 200)
        let first = try #require(setup.idp.issuedAccessTokens.last)
        setup.echo.rejectBearer(first)
        let client = try await setup.gateway.connect()
        try await client.send("POST /api/orders HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world")
        let seen = try await client.readEcho()
        #expect(seen.body == "hello world")
        let second = try #require(setup.idp.issuedAccessTokens.last)
        #expect(second != first)
        #expect(seen.header("authorization") == "Bearer \(second)")
        #expect(setup.idp.calls(.token) == 2)
        #expect(setup.echo.authorizationsSeen.suffix(2) == ["Bearer \(first)", "Bearer \(second)"])
        await client.close()
        await setup.stop()
    }

    @Test("upstream 401 invalid_token always: one retry with one new token, then the 401 is passed on; no loop")
    func upstream401Always() async throws {
        // An interval no test run outlasts: "within the interval" must not depend on speed.
        let setup = try await OutboundSetup.start(profileExtras: #", "forced_refresh_min_interval_seconds": 3600"#)
        let response = try await setup.get(headers: "X-Echo-Status: 401\r\nX-Echo-WWW-Authenticate: Bearer error=\"invalid_token\"\r\n")
        #expect(response.status == 401)
        #expect(setup.echo.requestCount == 2)
        #expect(setup.idp.calls(.token) == 2)
        // A second one within forced_refresh_min_interval_seconds (an hour here) costs no token request.
        #expect(try await setup.get(headers: "X-Echo-Status: 401\r\nX-Echo-WWW-Authenticate: Bearer error=\"invalid_token\"\r\n").status == 401)
        #expect(setup.idp.calls(.token) == 2)
        await setup.stop()
    }

    @Test("an upstream that answers 401 for its own reasons (no challenge, or another one) costs no token request")
    func upstream401NotAboutTheToken() async throws {
        // The token stays "brand new" for the whole test however slowly it runs beside the
        // parallel suite: a challenge-less 401 is the upstream's business until it is 5 s old,
        // an age this test must not race.
        let setup = try await OutboundSetup.start(unchallengedRejectionMinAge: .seconds(3600))
        // Counted from when the gateway holds its token (on a loaded machine the first token
        // request may take long enough to be retried; that is not what this test is about).
        #expect(await eventually(within: .seconds(20)) { setup.gateway.gateway.credentialProfile(named: "billing")?.currentToken() != nil })
        let before = setup.idp.calls(.token)
        for _ in 0..<10 { #expect(try await setup.get(headers: "X-Echo-Status: 401\r\n").status == 401) }
        for _ in 0..<10 {
            #expect(try await setup.get(headers: "X-Echo-Status: 401\r\nX-Echo-WWW-Authenticate: Bearer error=\"insufficient_scope\"\r\n").status == 401)
        }
        #expect(setup.echo.requestCount == 20, "each passed on, none retried")
        #expect(setup.idp.calls(.token) == before)
        #expect(try await setup.get().status == 200, "the token is still in use")
        await setup.stop()
    }

    @Test("a rotated secret file is read again on the next fetch")
    func rotatedSecretFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("secret", "stale-secret\n")
        let setup = try await OutboundSetup.start(clientSecret: #"{ "file": "\#(file)" }"#)
        #expect(try await setup.get().status == 503)
        _ = try directory.write("secret", OutboundSetup.secret + "\n")
        #expect(await eventually(within: .seconds(10)) { (try? await setup.get().status) == 200 })
        await setup.stop()
    }

    @Test("neither the client secret nor any token appears in the gateway's logs")
    func noSecretsInLogs() async throws {
        let setup = try await OutboundSetup.start { idp in idp.setFault(.status(500), on: .token, times: 1) }
        _ = try await setup.get()
        _ = await eventually(within: .seconds(5)) { (try? await setup.get().status) == 200 }
        #expect(try await setup.get().status == 200)
        let logs = setup.gateway.logs.all.joined(separator: "\n")
        #expect(logs.contains("token obtained"))
        #expect(!logs.contains(OutboundSetup.secret))
        #expect(!setup.idp.issuedAccessTokens.isEmpty)
        for token in setup.idp.issuedAccessTokens { #expect(!logs.contains(token)) }
        await setup.stop()
    }
}

@Suite("Password grant against the sandbox")
struct PasswordGrantTests {
    @Test("the refresh token is used first; invalid_grant on it falls back to the password grant")
    func refreshThenFallback() async throws {
        var sandbox = SandboxAuthorizationServer.Configuration.demo
        sandbox.accessTokenLifetime = .seconds(1)
        let idp = try await startSandbox(sandbox)
        let echo = try await EchoUpstream.start()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "credentials": { "crm": { "grant": "password", "token_url": "\(idp.tokenURL)", "client_id": "legacy-crm",
              "client_secret": { "env": "CRM_SECRET" }, "username": "crm-sync", "password": { "env": "CRM_PASSWORD" }, "scope": "contacts" } },
          "routes": [ { "name": "crm", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)", "credential": "crm" } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["CRM_SECRET": "demo-crm-secret", "CRM_PASSWORD": "demo-crm-password"])
        // 1-second tokens: a refresh every ~0.8 s; the deadlines allow for a loaded machine.
        #expect(await eventually(within: .seconds(15)) { idp.calls(.token) >= 2 })
        idp.setFault(.oauthError("invalid_grant"), on: .token, times: 1)
        #expect(await eventually(within: .seconds(20)) { idp.calls(.token) >= 6 })
        // Password first, refresh tokens until one is refused with invalid_grant, then a full
        // password grant, then refresh tokens again: wherever the refused one fell.
        let grants = idp.requests(.token).prefix(6).map { $0.formValue("grant_type") ?? "" }
        let fallback = grants.indices.dropFirst().first { grants[$0] == "password" }
        #expect(grants.first == "password")
        if let fallback {
            #expect(grants[1..<fallback].allSatisfy { $0 == "refresh_token" } && fallback >= 2)
            #expect(fallback + 1 < grants.count && grants[fallback + 1] == "refresh_token")
        } else {
            Issue.record("no password grant after the refresh token was refused: \(grants)")
        }
        let client = try await gateway.connect()
        try await client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try await client.readEcho().header("authorization")?.hasPrefix("Bearer ") == true)
        let logs = gateway.logs.all.joined()
        #expect(!logs.contains("demo-crm-password"))
        #expect(!logs.contains("demo-crm-secret"))
        await client.close()
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }
}
