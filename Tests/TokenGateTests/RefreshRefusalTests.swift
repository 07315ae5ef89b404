import Foundation
@testable import TokenGate
import Testing
import TokenGateSandbox

/// A refresh token the authorization server refuses is given up, however the server words
/// the refusal: some answer a dead refresh token `400` with an empty body rather than
/// RFC 6749 §5.2's `invalid_grant`.
@Suite("A refused refresh token is given up")
struct RefreshRefusalTests {
    @Test("a refresh answered 400 with an empty body drops the refresh token: the password grant runs at once and requests are served")
    func emptyBodied400FallsBackToPasswordGrant() async throws {
        var sandbox = SandboxAuthorizationServer.Configuration.demo
        sandbox.accessTokenLifetime = .seconds(1)
        let idp = try await startSandbox(sandbox)
        idp.setFault(.refreshRefusedWithoutBody(status: 400), on: .token)
        let echo = try await EchoUpstream.start()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "credentials": { "crm": { "grant": "password", "token_url": "\(idp.tokenURL)", "client_id": "legacy-crm",
              "client_secret": { "env": "CRM_SECRET" }, "username": "crm-sync", "password": { "env": "CRM_PASSWORD" }, "scope": "contacts" } },
          "routes": [ { "name": "crm", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)", "credential": "crm" } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["CRM_SECRET": "demo-crm-secret", "CRM_PASSWORD": "demo-crm-password"])
        let grants = { idp.requests(.token).map { $0.formValue("grant_type") ?? "" } }
        // Two refused refresh tokens, each followed by a password grant. Before: password,
        // then the dead refresh token again and again with backoff, for ever.
        #expect(await eventually(within: .seconds(20)) { grants().filter { $0 == "refresh_token" }.count >= 2 && grants().last == "password" })
        let seen = grants()
        #expect(seen.first == "password")
        let refusedAt = seen.indices.dropLast().filter { seen[$0] == "refresh_token" }
        #expect(refusedAt.count >= 2, "two refresh tokens sent before the last grant: \(seen)")
        #expect(refusedAt.allSatisfy { seen[$0 + 1] == "password" },
                "each refused refresh token is followed by the password grant at once, never sent again: \(seen)")
        let response = try #require(try await RawHTTPConnection.roundTrip(port: gateway.port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
        #expect(response.status == 200, "requests are served with the password grant's token, not refused with 503")
        let logs = gateway.logs.all.joined()
        #expect(logs.contains("refresh token refused"))
        #expect(!logs.contains("configuration problem"), "a dead refresh token is no configuration problem")
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test("a login session whose refresh is answered 400 with an empty body is over, not retried while its token lasts")
    func emptyBodied400EndsLoginSession() async throws {
        var configuration = SandboxAuthorizationServer.Configuration.demo
        // Within the gateway's refresh-ahead minute: every request wants a refresh.
        configuration.accessTokenLifetime = .seconds(30)
        let idp = try await startSandbox(configuration)
        let setup = try await LoginSetup.start(idp: idp)
        let browser = CookieBrowser()
        _ = try await setup.logIn(browser)
        idp.setFault(.refreshRefusedWithoutBody(status: 400), on: .token)
        let refused = try await browser.request(setup.base + "/x", headers: ["Accept": "application/json"]).response
        #expect(refused.status == 401, "the session ended; before, it stood while its access token lasted")
        #expect(try await browser.request(setup.base + "/x", headers: ["Accept": "application/json"]).response.status == 401)
        #expect(idp.requests(.token).filter { $0.formValue("grant_type") == "refresh_token" }.count == 1, "the refused refresh token was sent once")
        let metrics = try await setup.gateway.admin("/metrics")
        #expect(metrics.bodyText.contains(#"tokengate_login_refreshes_total{profile="portal",outcome="refused"} 1"#))
        await setup.stop()
    }
}
