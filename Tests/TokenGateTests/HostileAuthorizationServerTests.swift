import Foundation
import Testing
@testable import TokenGate
import TokenGateSandbox

/// A gateway with one validating route whose introspection profile is given `extras`.
private struct IntrospectingGateway {
    let idp: SandboxAuthorizationServer
    let echo: EchoUpstream
    let gateway: TestGateway

    static func start(profileExtras: String = "", cache: String = "") async throws -> IntrospectingGateway {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let gateway = try await TestGateway.start("""
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs",
                                      "client_secret": { "env": "RS_SECRET" }\(cache.isEmpty ? "" : #", "cache": { \#(cache) }"#)\(profileExtras) } },
          "routes": [ { "name": "app", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)/",
                        "validate": { "introspection": "idp", "audience": "legacy-app" } } ] }
        """, environment: ["RS_SECRET": "demo-introspection-secret"])
        return IntrospectingGateway(idp: idp, echo: echo, gateway: gateway)
    }

    func get(token: String) async throws -> TestResponse {
        try #require(try await RawHTTPConnection.roundTrip(port: gateway.port(), "GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"))
    }

    func stop() async {
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }
}

@Suite("Hostile authorization servers: answers are untrusted input")
struct HostileAuthorizationServerTests {
    @Test(
        "an introspection answer with an absurd or non-numeric time is a 503, never a crash or a pass",
        arguments: [#""exp":1e19"#, #""exp":-1e19"#, #""nbf":1e300"#, #""iat":"yesterday""#, #""exp":"soon""#]
    )
    func absurdIntrospectionTimes(member: String) async throws {
        let setup = try await IntrospectingGateway.start()
        setup.idp.setFault(.body(#"{"active":true,"sub":"x","aud":"legacy-app",\#(member)}"#), on: .introspection)
        let response = try await setup.get(token: "token-\(abs(member.hashValue))")
        #expect(response.status == 503)
        #expect(gatewayError(response)?.error == "introspection_unavailable")
        #expect(setup.echo.requestCount == 0)
        setup.idp.setFault(nil, on: .introspection)
        let real = setup.idp.issueToken(clientID: "demo-caller", scope: "legacy:use", username: "alice", audience: "legacy-app")
        #expect(try await setup.get(token: real).status == 200, "the gateway is alive and serving")
        await setup.stop()
    }

    @Test("a token that is not valid yet (nbf in an hour) or that is a refresh or ID token is refused as invalid_token")
    func notYetValidAndWrongType() async throws {
        let setup = try await IntrospectingGateway.start()
        let hour = WallClock.secondsSinceEpoch() + 3600
        for (index, body) in [
            #"{"active":true,"sub":"x","aud":"legacy-app","nbf":\#(hour)}"#,
            #"{"active":true,"sub":"x","aud":"legacy-app","token_type":"refresh_token"}"#,
            #"{"active":true,"sub":"x","aud":"legacy-app","token_type":"urn:ietf:params:oauth:token-type:id_token"}"#,
        ].enumerated() {
            setup.idp.setFault(.body(body), on: .introspection)
            let response = try await setup.get(token: "odd-token-\(index)")
            #expect(response.status == 401, "\(body)")
            #expect(gatewayError(response)?.error == "invalid_token")
        }
        setup.idp.setFault(.body(#"{"active":true,"sub":"x","aud":"legacy-app","token_type":"Bearer"}"#), on: .introspection)
        #expect(try await setup.get(token: "bearer-token").status == 200)
        #expect(setup.echo.requestCount == 1)
        await setup.stop()
    }

    @Test("random tokens cannot evict a real one: inactive answers have a cache of their own")
    func randomTokensDoNotEvict() async throws {
        let setup = try await IntrospectingGateway.start(cache: #""max_entries": 50, "negative_max_entries": 20"#)
        let real = setup.idp.issueToken(clientID: "demo-caller", scope: "legacy:use", username: "alice", audience: "legacy-app")
        #expect(try await setup.get(token: real).status == 200)
        for index in 0..<60 { #expect(try await setup.get(token: "random-\(index)-token").status == 401) }
        #expect(try await setup.get(token: real).status == 200)
        let calls = setup.idp.requests(.introspection).filter { $0.formValue("token") == real }.count
        #expect(calls == 1, "the real token was introspected once, not again after the flood")
        await setup.stop()
    }

    @Test("introspection calls in flight are bounded: past max_in_flight a new token gets 503 at once")
    func inFlightBound() async throws {
        let setup = try await IntrospectingGateway.start(profileExtras: #", "max_in_flight": 2"#)
        setup.idp.setFault(.delay(.seconds(30)), on: .introspection)
        let first = try await setup.gateway.connect()
        let second = try await setup.gateway.connect()
        try await first.send("GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer slow-one\r\n\r\n")
        try await second.send("GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer slow-two\r\n\r\n")
        #expect(await eventually { setup.idp.requests(.introspection).count == 2 })
        let third = try await setup.get(token: "slow-three")
        #expect(third.status == 503)
        #expect(third.header("retry-after") != nil)
        #expect(setup.idp.requests(.introspection).count == 2, "the third token was not queued")
        await first.close()
        await second.close()
        await setup.stop()
    }

    @Test("introspection calls stuck at the authorization server never delay a token request: separate client pools")
    func introspectionFloodDoesNotStarveRefresh() async throws {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        idp.setFault(.status(503), on: .token)
        let gateway = try await TestGateway.start("""
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "credentials": { "billing": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                                        "client_secret": "demo-billing-secret", "timeout_seconds": 5 } },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs",
                                      "client_secret": "demo-introspection-secret", "timeout_seconds": 60 } },
          "routes": [ { "name": "app", "listener": "main", "match": { "path_prefix": "/app/" }, "upstream": "http://127.0.0.1:\(echo.port)/",
                        "validate": { "introspection": "idp", "audience": "x" } },
                      { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "upstream": "http://127.0.0.1:\(echo.port)/",
                        "credential": "billing" } ] }
        """)
        // Twenty introspection calls the server holds for 30 s: more than one pool's connections.
        idp.setFault(.delay(.seconds(30)), on: .introspection)
        var stuck: [RawHTTPConnection] = []
        for index in 0..<20 {
            let client = try await gateway.connect()
            try await client.send("GET /app/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer stuck-token-\(index)\r\n\r\n")
            stuck.append(client)
        }
        #expect(await eventually(within: .seconds(10)) { idp.requests(.introspection).count >= 8 })
        idp.setFault(nil, on: .token)
        let served = await eventually(within: .seconds(15)) {
            (try? await RawHTTPConnection.roundTrip(port: gateway.port(), "GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))?.status == 200
        }
        #expect(served, "the token request went through while introspection calls were stuck")
        for client in stuck { await client.close() }
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test(
        "a token endpoint answer with a hostile expires_in or access_token never crashes and never forwards a bad token",
        arguments: [
            (#"{"access_token":"a b","token_type":"Bearer"}"#, 503),
            (#"{"access_token":"abc\r\nX-Injected: 1","token_type":"Bearer"}"#, 503),
            (#"{"access_token":"good-token-1","token_type":"Bearer","expires_in":"1e400"}"#, 503),
            (#"{"access_token":"good-token-2","token_type":"Bearer","expires_in":1e16}"#, 200),
            (#"{"access_token":"good-token-3","token_type":"Bearer","expires_in":[1]}"#, 503),
        ]
    )
    func hostileTokenResponses(body: String, status: Int) async throws {
        let setup = try await OutboundSetup.start { idp in idp.setFault(.body(body), on: .token) }
        let response = try await setup.get()
        #expect(response.status == status)
        if status == 503 {
            #expect(json(response)["cause"] as? String == "malformed_response")
            #expect(setup.echo.requestCount == 0, "never forwarded without a valid credential")
        } else {
            #expect(setup.echo.authorizationsSeen.last == "Bearer good-token-2")
        }
        await setup.stop()
    }

    @Test("expires_in: 0.0001 does not make the refresh spin: one token request a second at most")
    func tinyLifetimeDoesNotSpin() async throws {
        let setup = try await OutboundSetup.start { idp in
            idp.setFault(.body(#"{"access_token":"short-lived","token_type":"Bearer","expires_in":0.0001}"#), on: .token)
        }
        #expect(await eventually(within: .seconds(10)) { setup.idp.calls(.token) >= 3 })
        let times = setup.idp.requests(.token).map(\.receivedAt)
        #expect(times.count >= 3)
        for (earlier, later) in zip(times, times.dropFirst()) {
            #expect(later - earlier >= .milliseconds(900), "token requests \(later - earlier) apart")
        }
        await setup.stop()
    }

    @Test("a credential_unavailable answer names the route, profile and cause, never a secret file's path")
    func safeCredentialErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("billing-secret", OutboundSetup.secret)
        let setup = try await OutboundSetup.start(clientSecret: #"{ "file": "\#(file)" }"#) { idp in
            idp.setFault(.status(503), on: .token)
        }
        try FileManager.default.removeItem(atPath: file)
        var last: TestResponse?
        let sawIt = await eventually(within: .seconds(15)) {
            last = try? await setup.get()
            return last.map { json($0)["cause"] as? String == "secret_unavailable" } ?? false
        }
        #expect(sawIt)
        #expect(last.map { !$0.bodyText.contains(directory.url.path) } ?? false, "the path stays in the log")
        #expect(last.map { json($0)["credential"] as? String == "billing" && json($0)["route"] as? String == "api" } ?? false)
        await setup.stop()
    }
}
