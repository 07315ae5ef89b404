import Foundation
import Testing
import TokenGateSandbox

/// Client-credentials and password-grant profiles against django-oauth-toolkit.
private func interopConfig(_ dot: DjangoOAuthToolkit, echoPort: Int) -> String {
    """
    { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
      "credentials": {
        "billing": { "grant": "client_credentials", "token_url": "\(dot.tokenURL)", "client_id": "\(DjangoOAuthToolkit.billingClient.id)",
                     "client_secret": { "env": "BILLING_SECRET" }, "scope": "invoices:read invoices:write" },
        "crm": { "grant": "password", "token_url": "\(dot.tokenURL)", "client_id": "\(DjangoOAuthToolkit.crmClient.id)",
                 "client_secret": { "env": "CRM_SECRET" }, "auth_method": "client_secret_post",
                 "username": "\(DjangoOAuthToolkit.user.name)", "password": { "env": "CRM_PASSWORD" }, "scope": "contacts" } },
      "routes": [
        { "name": "billing", "listener": "main", "match": { "path_prefix": "/billing/" }, "strip_prefix": true,
          "upstream": "http://127.0.0.1:\(echoPort)/", "credential": "billing" },
        { "name": "crm", "listener": "main", "match": { "path_prefix": "/crm/" }, "strip_prefix": true,
          "upstream": "http://127.0.0.1:\(echoPort)/", "credential": "crm" } ] }
    """
}

private let interopEnvironment = [
    "BILLING_SECRET": DjangoOAuthToolkit.billingClient.secret,
    "CRM_SECRET": DjangoOAuthToolkit.crmClient.secret,
    "CRM_PASSWORD": DjangoOAuthToolkit.user.password,
]

@Suite("Interop: outbound credentials against django-oauth-toolkit", .serialized)
struct InteropOutboundTests {
    @Test("injected client-credentials and password-grant tokens are active at the server")
    func injectedTokensAreActive() async throws {
        let dot = try await DjangoOAuthToolkit.start(tokenLifetime: 60)
        defer { dot.stop() }
        let echo = try await EchoUpstream.start()
        let gateway = try await TestGateway.start(interopConfig(dot, echoPort: echo.port), environment: interopEnvironment)
        let client = try await gateway.connect()

        try await client.send("GET /billing/invoices HTTP/1.1\r\nHost: a\r\n\r\n")
        let billing = try await client.readEcho()
        let billingToken = try #require(billing.header("authorization")?.split(separator: " ").last.map(String.init))
        let billingClaims = try await dot.introspect(billingToken)
        #expect(billingClaims["active"] as? Bool == true)
        #expect(billingClaims["client_id"] as? String == DjangoOAuthToolkit.billingClient.id)
        #expect(billingClaims["scope"] as? String == "invoices:read invoices:write")

        try await client.send("GET /crm/contacts HTTP/1.1\r\nHost: a\r\n\r\n")
        let crm = try await client.readEcho()
        let crmToken = try #require(crm.header("authorization")?.split(separator: " ").last.map(String.init))
        let crmClaims = try await dot.introspect(crmToken)
        #expect(crmClaims["active"] as? Bool == true)
        #expect(crmClaims["username"] as? String == DjangoOAuthToolkit.user.name)

        let logs = gateway.logs.all.joined()
        #expect(!interopEnvironment.isEmpty)
        for secret in interopEnvironment.values { #expect(!logs.contains(secret)) }
        #expect(!logs.contains(billingToken))
        #expect(!logs.contains(crmToken))
        await client.close()
        try await dot.registerSecrets()
        await gateway.stop()
        await echo.stop()
    }

    @Test("2-second tokens, 64 concurrent clients for 10 seconds: no failed request, one token per refresh window")
    func refreshUnderLoad() async throws {
        let dot = try await DjangoOAuthToolkit.start(tokenLifetime: 2)
        defer { dot.stop() }
        let echo = try await EchoUpstream.start()
        let gateway = try await TestGateway.start(interopConfig(dot, echoPort: echo.port), environment: interopEnvironment)
        let duration = Duration.seconds(10)
        let started = ContinuousClock.now
        let deadline = started + duration
        let (succeeded, failed) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<64 {
                group.addTask {
                    var ok = 0
                    var bad = 0
                    let client = try await gateway.connect()
                    // Bounded: stops at the deadline or after 100,000 requests, whichever comes first.
                    while ContinuousClock.now < deadline && ok + bad < 100_000 {
                        try await client.send("GET /billing/x HTTP/1.1\r\nHost: a\r\n\r\n")
                        if try await client.readResponse()?.status == 200 { ok += 1 } else { bad += 1 }
                    }
                    await client.close()
                    return (ok, bad)
                }
            }
            return try await group.reduce(into: (0, 0)) { $0.0 += $1.0; $0.1 += $1.1 }
        }
        let elapsed = ContinuousClock.now - started
        #expect(failed == 0)
        #expect(succeeded > 64)
        // Refresh at 80% of 2 s: one token per 1.6 s window, plus the first.
        let windows = Int((elapsed / .milliseconds(1600)).rounded(.up)) + 1
        let issued = try await dot.issuedTokens(for: DjangoOAuthToolkit.billingClient.id)
        #expect(issued >= 2)
        #expect(issued <= windows, "issued \(issued) tokens in \(elapsed)")
        try await dot.registerSecrets()
        await gateway.stop()
        await echo.stop()
    }
}
