import Foundation
import Testing
import TokenGateSandbox

@Suite("Interop: browser login at django-oauth-toolkit, in a real headless Chromium", .serialized)
struct InteropLoginTests {
    @Test("log in through Django's login page; the app sees who it is; reload keeps the session; logout ends it at both ends; two tabs at once both log in")
    func browserLogin() async throws {
        let dot = try await DjangoOAuthToolkit.start(tokenLifetime: 300)
        defer { dot.stop() }
        let echo = try await EchoUpstream.start()
        let port = try await freeLoopbackPort()
        let base = "http://127.0.0.1:\(port)"
        let registration = try await dot.registerPortal(redirectURI: base + "/.tokengate/callback", postLogoutRedirectURI: base + "/")
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:\(port)" } }, "admin": { "address": "127.0.0.1:0" },
          "login": { "dot": { "issuer": "\(dot.issuer)", "client_id": "legacy-portal", "client_secret": { "env": "PORTAL_SECRET" },
                              "cookie_keys": [ { "id": "k1", "secret": { "env": "COOKIE_KEY" } } ], "external_url": "\(base)" } },
          "routes": [ { "name": "app", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)",
                        "login": "dot" } ] }
        """
        let gateway = try await TestGateway.start(config, environment: [
            "PORTAL_SECRET": DjangoOAuthToolkit.portal.secret, "COOKIE_KEY": "interop-cookie-key-0123456789abcdefghijklmnop",
        ])
        #expect(await eventually(within: .seconds(20)) { (try? await gateway.admin("/readyz"))?.status == 200 })
        let run = try await runChild(
            DjangoOAuthToolkit.python, [DjangoOAuthToolkit.packageRoot.appendingPathComponent("Tests/Interop/browser_login.py").path, base, dot.baseURL],
            environment: ProcessInfo.processInfo.environment
        )
        let output = String(decoding: run.stdout, as: UTF8.self)
        #expect(run.status == 0, "\(String(decoding: run.stderr, as: UTF8.self).suffix(2000))")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
        #expect(result["login_page"] as? String == dot.baseURL + "/accounts/login/")
        let first = try #require(result["first"] as? [String: Any])
        #expect(first["url"] as? String == base + "/dashboard?tab=1", "back where the login started")
        #expect(first["subject"] as? String == String(registration.userPK))
        #expect(first["email"] as? String == "alice@interop.test")
        #expect(first["name"] as? String == "Alice Interop")
        #expect(first["username"] as? String == "alice")
        #expect(first["groups"] as? String == "staff,interop")
        #expect(!(first["cookie"] as? String ?? "").contains("tg-"), "the app never sees the gateway's cookies")
        #expect((result["gateway_cookies"] as? [String])?.contains { $0.hasPrefix("tg-") && $0.hasSuffix("-session") } == true, "tg-TAG-session")
        #expect(result["reload_subject"] as? String == String(registration.userPK))
        #expect(result["after_logout_next"] as? String == "/o/authorize/%3Fresp", "logged out at the provider, sent to log in again")
        #expect(result["after_logout_login_page"] as? Bool == true, "the provider's session ended too")
        #expect(result["parallel_state_cookies"] as? Int == 2)
        #expect(result["tab_a"] as? String == "/tab-a")
        #expect(result["tab_b"] as? String == "/tab-b")
        #expect(result["tab_b_subject"] as? String == String(registration.userPK))
        try await dot.registerSecrets()
        await gateway.stop()
        await echo.stop()
    }
}
