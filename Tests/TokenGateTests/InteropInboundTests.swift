import Foundation
import Testing
import TokenGateSandbox

@Suite("Interop: inbound validation against django-oauth-toolkit's introspection", .serialized)
struct InteropInboundTests {
    @Test("active token passes with identity headers; missing scope 403; garbage 401; revoked refused after the cache TTL")
    func introspectionAtDOT() async throws {
        let dot = try await DjangoOAuthToolkit.start(tokenLifetime: 300)
        defer { dot.stop() }
        let echo = try await EchoUpstream.start()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "introspection": { "dot": { "url": "\(dot.introspectionURL)", "client_id": "\(DjangoOAuthToolkit.resourceServer.id)",
                                      "client_secret": { "env": "RS_SECRET" },
                                      "cache": { "max_entries": 100, "max_ttl_seconds": 1, "negative_ttl_seconds": 1 } } },
          "routes": [ { "name": "legacy", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)",
                        "validate": { "introspection": "dot", "required_scopes": ["legacy:use"] } } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["RS_SECRET": DjangoOAuthToolkit.resourceServer.secret])
        func get(_ token: String) async throws -> TestResponse {
            let client = try await gateway.connect()
            try await client.send("GET /orders HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\nX-Auth-Client-Id: forged\r\n\r\n")
            let response = try #require(try await client.readResponse())
            await client.close()
            return response
        }

        let token = try await dot.clientCredentialsToken(DjangoOAuthToolkit.caller, scope: "legacy:use")
        let passed = try await get(token)
        #expect(passed.status == 200)
        let seen = try #require(EchoReport(passed))
        #expect(seen.values("x-auth-client-id") == [DjangoOAuthToolkit.caller.id])
        #expect(seen.header("x-auth-scope") == "legacy:use")
        #expect(seen.header("authorization") == nil)

        let narrow = try await dot.clientCredentialsToken(DjangoOAuthToolkit.caller, scope: "invoices:read")
        #expect(try await get(narrow).status == 403)
        #expect(try await get("garbage-token").status == 401)

        try await dot.revoke(token, client: DjangoOAuthToolkit.caller)
        #expect(await eventually(within: .seconds(5)) { (try? await get(token).status) == 401 })
        let logs = gateway.logs.all.joined()
        #expect(!logs.contains(token) && !logs.contains(DjangoOAuthToolkit.resourceServer.secret))
        try await dot.registerSecrets()
        await gateway.stop()
        await echo.stop()
    }
}
