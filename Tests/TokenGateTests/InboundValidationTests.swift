import Foundation
@testable import TokenGate
import Testing
import TokenGateSandbox

/// A gateway with three validating routes against the sandbox's introspection endpoint.
private struct InboundSetup {
    let idp: SandboxAuthorizationServer
    let echo: EchoUpstream
    let gateway: TestGateway

    static func start(cache: String = #""max_entries": 1000, "max_ttl_seconds": 300, "negative_ttl_seconds": 10"#, profileExtras: String = "") async throws -> InboundSetup {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let upstream = "http://127.0.0.1:\(echo.port)/"
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs",
                                      "client_secret": { "env": "RS_SECRET" }, "cache": { \(cache) }\(profileExtras) } },
          "routes": [
            { "name": "app", "listener": "main", "match": { "path_prefix": "/app/" }, "upstream": "\(upstream)",
              "validate": { "introspection": "idp", "required_scopes": ["legacy:use"] } },
            { "name": "open", "listener": "main", "match": { "path_prefix": "/open/" }, "upstream": "\(upstream)",
              "validate": { "introspection": "idp", "realm": "open-area" } },
            { "name": "forwarding", "listener": "main", "match": { "path_prefix": "/fwd/" }, "upstream": "\(upstream)",
              "validate": { "introspection": "idp", "forward_authorization": true, "audience": "legacy-app",
                            "identity_headers": { "X-User": "username", "X-Audience": "aud" } } } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["RS_SECRET": "demo-introspection-secret"])
        return InboundSetup(idp: idp, echo: echo, gateway: gateway)
    }

    func request(_ path: String, token: String? = nil, headers: String = "", on client: RawHTTPConnection? = nil) async throws -> TestResponse {
        let connection: RawHTTPConnection
        if let client { connection = client } else { connection = try await gateway.connect() }
        let authorization = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        try await connection.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\(authorization)\(headers)\r\n")
        guard let response = try await connection.readResponse() else { throw NotAnEchoResponse(response: nil) }
        if client == nil { await connection.close() }
        return response
    }

    func token(scope: String = "legacy:use", user: String? = "alice", audience: String? = nil) -> String {
        idp.issueToken(clientID: "demo-caller", scope: scope, username: user, audience: audience)
    }

    func stop() async {
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }
}

@Suite("Inbound validation against the sandbox")
struct InboundValidationTests {
    @Test("no token: 401 with a bare Bearer challenge; the upstream sees nothing")
    func missingToken() async throws {
        let setup = try await InboundSetup.start()
        let response = try await setup.request("/app/x")
        #expect(response.status == 401)
        #expect(response.header("www-authenticate") == #"Bearer realm="tokengate""#)
        #expect(gatewayError(response)?.error == "unauthorized")
        let open = try await setup.request("/open/x", headers: "Authorization: Basic dTpw\r\n")
        #expect(open.status == 401)
        #expect(open.header("www-authenticate") == #"Bearer realm="open-area""#)
        #expect(setup.echo.requestCount == 0)
        await setup.stop()
    }

    @Test("an active token with the scope passes; the upstream gets identity headers, not the token")
    func activeToken() async throws {
        let setup = try await InboundSetup.start()
        let token = setup.token()
        let response = try await setup.request("/app/x", token: token)
        #expect(response.status == 200)
        let seen = try #require(EchoReport(response))
        #expect(seen.header("x-auth-subject") == "alice")
        #expect(seen.header("x-auth-scope") == "legacy:use")
        #expect(seen.header("x-auth-client-id") == "demo-caller")
        #expect(seen.header("authorization") == nil)
        #expect(!response.bodyText.contains(token))
        await setup.stop()
    }

    @Test("garbage and revoked tokens get 401 invalid_token; a missing scope gets 403 insufficient_scope")
    func refusals() async throws {
        let setup = try await InboundSetup.start(cache: #""max_entries": 1000, "max_ttl_seconds": 1, "negative_ttl_seconds": 1"#)
        let garbage = try await setup.request("/app/x", token: "not-a-real-token")
        #expect(garbage.status == 401)
        #expect(garbage.header("www-authenticate") == #"Bearer realm="tokengate", error="invalid_token""#)
        #expect(gatewayError(garbage)?.error == "invalid_token")

        let narrow = try await setup.request("/app/x", token: setup.token(scope: "profile"))
        #expect(narrow.status == 403)
        #expect(narrow.header("www-authenticate") == #"Bearer realm="tokengate", error="insufficient_scope", scope="legacy:use""#)

        let token = setup.token()
        #expect(try await setup.request("/app/x", token: token).status == 200)
        setup.idp.revoke(token)
        // Cached for max_ttl_seconds (1 s); refused once the cache entry is gone.
        #expect(await eventually(within: .seconds(5)) { (try? await setup.request("/app/x", token: token).status) == 401 })
        #expect(setup.echo.requestCount >= 1)
        await setup.stop()
    }

    @Test(
        "malformed Authorization headers get 400 invalid_request",
        arguments: ["Authorization: Bearer\r\n", "Authorization: Bearer a b\r\n", "Authorization: Bearer tok\r\nAuthorization: Bearer tok\r\n", "Authorization: Bearer ab=c\r\n"]
    )
    func malformed(header: String) async throws {
        let setup = try await InboundSetup.start()
        let response = try await setup.request("/app/x", headers: header)
        #expect(response.status == 400)
        #expect(response.header("www-authenticate")?.contains(#"error="invalid_request""#) == true)
        #expect(setup.idp.calls(.introspection) == 0)
        await setup.stop()
    }

    @Test("a token in both the header and the query is refused with 400")
    func tokenInTwoPlaces() async throws {
        let setup = try await InboundSetup.start()
        let token = setup.token()
        let response = try await setup.request("/app/x?access_token=\(token)", token: token)
        #expect(response.status == 400)
        await setup.stop()
    }

    @Test("one keep-alive connection switching tokens: each request is judged by its own token, never the last one's")
    func tokensSwitchOnOneConnection() async throws {
        let setup = try await InboundSetup.start()
        let alice = setup.token(user: "alice")
        let bob = setup.token(user: "bob")
        let client = try await setup.gateway.connect()
        for (token, expected) in [(alice, "alice"), (bob, "bob"), (alice, "alice"), (alice, "alice")] {
            let response = try await setup.request("/app/x", token: token, on: client)
            #expect(response.status == 200)
            #expect(EchoReport(response)?.header("x-auth-subject") == expected)
        }
        #expect(try await setup.request("/app/x", token: "garbage-\(alice)", on: client).status == 401)
        #expect(try await setup.request("/app/x", token: bob, on: client).status == 200)
        await client.close()
        await setup.stop()
    }

    @Test("identity headers sent by the client never reach the upstream, whatever their spelling")
    func forgedIdentity() async throws {
        let setup = try await InboundSetup.start()
        let forged = "X-Auth-Subject: admin\r\nx-auth-subject: admin\r\nX_Auth_Subject: admin\r\nX-AUTH-CLIENT-ID: root\r\nx_auth_scope: all\r\n"
        let response = try await setup.request("/app/x", token: setup.token(user: nil), headers: forged)
        let seen = try #require(EchoReport(response))
        #expect(seen.values("x-auth-subject") == ["demo-caller"])
        #expect(seen.values("x-auth-client-id") == ["demo-caller"])
        #expect(!seen.headers.contains { $0.name.contains("_") })
        #expect(!seen.headers.contains { $0.value == "admin" || $0.value == "root" || $0.value == "all" })
        await setup.stop()
    }

    @Test("1,000 requests with one token, 50 at a time, cause exactly one introspection call")
    func singleFlight() async throws {
        let setup = try await InboundSetup.start()
        setup.idp.setFault(.delay(.milliseconds(200)), on: .introspection)
        let token = setup.token()
        let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<50 {
                group.addTask {
                    let client = try await setup.gateway.connect()
                    var statuses: [Int] = []
                    for _ in 0..<20 { statuses.append(try await setup.request("/app/x", token: token, on: client).status) }
                    await client.close()
                    return statuses
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(statuses.count == 1000)
        #expect(statuses.allSatisfy { $0 == 200 })
        #expect(setup.idp.calls(.introspection) == 1)
        await setup.stop()
    }

    @Test("10,000 distinct garbage tokens fill only the small cache of inactive answers, within its bound")
    func boundedCache() async throws {
        let setup = try await InboundSetup.start(cache: #""max_entries": 100, "max_ttl_seconds": 300, "negative_ttl_seconds": 300, "negative_max_entries": 50"#)
        let refused = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<50 {
                group.addTask {
                    let client = try await setup.gateway.connect()
                    var refused = 0
                    for index in 0..<200 where try await setup.request("/app/x", token: "garbage-\(worker)-\(index)", on: client).status == 401 {
                        refused += 1
                    }
                    await client.close()
                    return refused
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(refused == 10_000)
        let statistics = try #require(setup.gateway.gateway.introspectionProfile(named: "idp")?.statistics)
        #expect(statistics.size == 0, "inactive answers never take room from active ones")
        #expect(statistics.inactive <= 50)
        #expect(statistics.inactive > 0)
        await setup.stop()
    }

    @Test("a token cached after passing a lenient route is refused with 403 on a stricter one")
    func policyPerRoute() async throws {
        let setup = try await InboundSetup.start()
        let token = setup.token(scope: "profile")
        #expect(try await setup.request("/open/x", token: token).status == 200)
        #expect(try await setup.request("/app/x", token: token).status == 403)
        #expect(setup.idp.calls(.introspection) == 1)
        await setup.stop()
    }

    @Test("forward_authorization, audience and a custom identity map")
    func forwardingRoute() async throws {
        let setup = try await InboundSetup.start()
        let token = setup.token(audience: "legacy-app")
        let seen = try #require(EchoReport(try await setup.request("/fwd/x", token: token)))
        #expect(seen.header("authorization") == "Bearer \(token)")
        #expect(seen.header("x-user") == "alice")
        #expect(seen.header("x-audience") == "legacy-app")
        #expect(seen.header("x-auth-subject") == nil)
        let otherAudience = try await setup.request("/fwd/x", token: setup.token(audience: "elsewhere"))
        #expect(otherAudience.status == 401)
        await setup.stop()
    }

    @Test("fail closed: introspection down → 503 with Retry-After when nothing is cached; cached answers keep serving")
    func introspectionDown() async throws {
        let setup = try await InboundSetup.start()
        let cachedToken = setup.token()
        #expect(try await setup.request("/app/x", token: cachedToken).status == 200)
        setup.idp.setFault(.status(500), on: .introspection)
        let uncached = try await setup.request("/app/x", token: setup.token())
        #expect(uncached.status == 503)
        #expect(uncached.header("retry-after") == "5")
        #expect(gatewayError(uncached)?.error == "introspection_unavailable")
        #expect(!uncached.bodyText.contains(setup.idp.introspectionURL))
        #expect(try await setup.request("/app/x", token: cachedToken).status == 200)
        setup.idp.setFault(.malformedJSON, on: .introspection)
        #expect(try await setup.request("/app/x", token: setup.token()).status == 503)
        setup.idp.setFault(.connectionReset, on: .introspection)
        #expect(try await setup.request("/app/x", token: setup.token()).status == 503)
        await setup.stop()
    }

    @Test("slow introspection times out into a 503")
    func slowIntrospection() async throws {
        let setup = try await InboundSetup.start(profileExtras: #", "timeout_seconds": 0.3"#)
        setup.idp.setFault(.delay(.seconds(3)), on: .introspection)
        let response = try await setup.request("/app/x", token: setup.token())
        #expect(response.status == 503)
        await setup.stop()
    }

    @Test("neither caller tokens nor the resource server's secret appear in logs")
    func noTokensInLogs() async throws {
        let setup = try await InboundSetup.start()
        let tokens = [setup.token(), setup.token(scope: "profile")]
        for token in tokens { _ = try await setup.request("/app/x", token: token) }
        setup.idp.setFault(.status(500), on: .introspection)
        _ = try await setup.request("/app/x", token: "another-garbage-token")
        let logs = setup.gateway.logs.all.joined()
        #expect(logs.contains("introspection failed"))
        for token in tokens + ["another-garbage-token", "demo-introspection-secret"] { #expect(!logs.contains(token)) }
        await setup.stop()
    }
}

@Suite("Validation and injection on one route")
struct ValidateAndInjectTests {
    @Test("a route may validate the caller's token and inject its own credential at once")
    func validateAndInject() async throws {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let config = """
        { "listeners": { "public": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "credentials": { "billing": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                                        "client_secret": { "env": "BILLING_SECRET" } } },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs", "client_secret": { "env": "RS_SECRET" } } },
          "routes": [ { "name": "both", "listener": "public", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)",
                        "credential": "billing", "validate": { "introspection": "idp", "required_scopes": ["legacy:use"] } } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["BILLING_SECRET": "demo-billing-secret", "RS_SECRET": "demo-introspection-secret"])
        let caller = idp.issueToken(clientID: "demo-caller", scope: "legacy:use", username: "bob")
        let client = try await gateway.connect("public")
        try await client.send("GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(caller)\r\n\r\n")
        let seen = try await client.readEcho()
        let injected = try #require(idp.issuedAccessTokens.first { $0 != caller })
        #expect(seen.values("authorization") == ["Bearer \(injected)"])
        #expect(seen.header("x-auth-subject") == "bob")
        try await client.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try await client.readResponse()?.status == 401)
        await client.close()
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }
}
