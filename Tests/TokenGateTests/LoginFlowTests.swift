import Foundation
@testable import TokenGate
import Testing
import TokenGateSandbox

/// A gateway with browser login against the sandbox: `/app/` needs a session, `/app/static/`
/// is public, `/api/` takes bearer tokens (JWTs) or a session.
struct LoginSetup {
    static let cookieKey = "test-cookie-key-0123456789abcdef0123456789"
    static let portalSecret = "demo-portal-secret"

    let idp: SandboxAuthorizationServer
    let echo: EchoUpstream
    let gateway: TestGateway
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }
    var origin: String { "127.0.0.1:\(port)" }
    /// The profile's cookie names (plain http on loopback: no `__Host-`), which carry its tag.
    var cookies: LoginCookies { LoginCookies(secure: false, scope: CookieScope(profile: "portal", issuer: idp.issuer)) }
    var sessionCookie: String { cookies.session }
    var statePrefix: String { cookies.statePrefix }

    /// `topExtras`: members added to the configuration's top level (`, "store": …`).
    static func start(profileExtras: String = "", keys: String = #"[ { "id": "k1", "secret": { "env": "COOKIE_KEY" } } ]"#,
                      environment: [String: String] = [:], idp existing: SandboxAuthorizationServer? = nil, topExtras: String = "") async throws -> LoginSetup {
        let idp = if let existing { existing } else { try await JWTSetup.startSandbox() }
        let echo = try await EchoUpstream.start()
        for attempt in 1...3 {
            let port = try await freeLoopbackPort()
            let upstream = "http://127.0.0.1:\(echo.port)/"
            let config = """
            { "listeners": { "main": { "address": "127.0.0.1:\(port)" } }, "admin": { "address": "127.0.0.1:0" }\(topExtras),
              "login": { "portal": { "issuer": "\(idp.issuer)", "client_id": "legacy-portal", "client_secret": { "env": "PORTAL_SECRET" },
                                     "cookie_keys": \(keys), "external_url": "http://127.0.0.1:\(port)"\(profileExtras) } },
              "jwt": { "idp": { "issuer": "\(idp.issuer)", "audience": "\(JWTSetup.audience)" } },
              "routes": [
                { "name": "app", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "\(upstream)",
                  "login": "portal", "public_paths": ["/static/"] },
                { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "upstream": "\(upstream)",
                  "login": "portal", "validate": { "jwt": "idp" }, "bearer_token": "validate" },
                { "name": "open", "listener": "main", "match": { "path_prefix": "/open/" }, "upstream": "\(upstream)" } ] }
            """
            var environment = environment
            environment["PORTAL_SECRET"] = portalSecret
            if environment["COOKIE_KEY"] == nil { environment["COOKIE_KEY"] = cookieKey }
            do {
                let gateway = try await TestGateway.start(config, environment: environment)
                return LoginSetup(idp: idp, echo: echo, gateway: gateway, port: port)
            } catch where "\(error)".contains("Address already in use") && attempt < 3 {
                // The port was free when chosen and taken before the gateway bound it (another
                // test's socket): choose again.
                continue
            }
        }
        throw PortTaken()
    }

    /// Three ports in a row were taken between choosing and binding (never seen).
    struct PortTaken: Error {}

    /// Logs `browser` in as alice, starting at `path`; returns the page the login ended on.
    func logIn(_ browser: CookieBrowser, at path: String = "/reports?year=2026", user: String = "alice", password: String = "demo-alice-password") async throws -> CookieBrowser.Page {
        let first = try await browser.request(base + path)
        #expect(first.response.status == 302)
        let authorize = try #require(first.location)
        #expect(authorize.hasPrefix(idp.url(.authorize) + "?"))
        return try await completeLogin(browser, authorize: authorize, user: user, password: password)
    }

    /// Signs in at the provider for an authorization URL and follows the callback.
    func completeLogin(_ browser: CookieBrowser, authorize: String, user: String = "alice", password: String = "demo-alice-password",
                       callbackPath: String = "/.tokengate/callback") async throws -> CookieBrowser.Page {
        let form = try await browser.request(authorize)
        #expect(form.response.status == 200)
        let query = try #require(URLComponents(string: authorize)?.percentEncodedQuery)
        let signedIn = try await browser.request(idp.url(.authorize), method: "POST", body: query + "&username=\(user)&password=\(password)")
        #expect(signedIn.response.status == 302)
        let callback = try #require(signedIn.location)
        #expect(callback.hasPrefix(base + callbackPath + "?"))
        return try await browser.request(callback)
    }

    /// The status a fresh browser gets for `path` holding only this session cookie (a copy
    /// kept by someone else, a replay).
    func status(withSession cookie: String, _ path: String = "/x") async throws -> Int {
        let browser = CookieBrowser()
        browser.setCookie(sessionCookie, cookie, at: origin)
        return try await browser.request(base + path).response.status
    }

    func stop() async {
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    /// Stops this gateway and its upstream, leaving a shared provider running.
    func stopKeepingProvider() async {
        await gateway.stop()
        await echo.stop()
    }
}

@Suite("Browser login against the sandbox (authorization code + PKCE), without a browser")
struct LoginFlowTests {
    @Test("a page load goes to the provider with PKCE S256, state and nonce; after login the app sees who it is, never the gateway's cookies")
    func loginFlow() async throws {
        let setup = try await LoginSetup.start()
        let browser = CookieBrowser()
        browser.setCookie("app-pref", "dark", at: setup.origin)
        let first = try await browser.request(setup.base + "/reports?year=2026")
        #expect(first.response.status == 302)
        let authorize = try #require(first.location.flatMap(URLComponents.init(string:)))
        let parameters = Dictionary(uniqueKeysWithValues: (authorize.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        #expect(parameters["response_type"] == "code")
        #expect(parameters["client_id"] == "legacy-portal")
        #expect(parameters["code_challenge_method"] == "S256")
        #expect(parameters["code_challenge"]?.count == 43)
        #expect((parameters["state"]?.count ?? 0) >= 43 && (parameters["nonce"]?.count ?? 0) >= 43)
        #expect(parameters["redirect_uri"] == setup.base + "/.tokengate/callback")
        #expect(parameters["scope"] == "openid+profile+email", "form-encoded (RFC 6749 Appendix B): + is a space")
        let setCookie = try #require(first.response.header("set-cookie"))
        #expect(setCookie.hasPrefix(setup.statePrefix) && setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax") && setCookie.contains("Max-Age=600"))

        let landed = try await setup.completeLogin(browser, authorize: try #require(first.location))
        #expect(landed.response.status == 302)
        #expect(landed.location == "/reports?year=2026", "back where the login started")
        #expect(browser.cookies(at: setup.origin)[setup.sessionCookie] != nil)
        #expect(!browser.cookies(at: setup.origin).keys.contains { $0.hasPrefix(setup.statePrefix) }, "the attempt's cookie is gone")

        let page = try await browser.request(setup.base + "/reports?year=2026")
        #expect(page.response.status == 200)
        let seen = try #require(EchoReport(page.response))
        #expect(seen.header("x-auth-subject") == "alice")
        #expect(seen.header("x-auth-email") == "alice@example.com")
        #expect(seen.header("x-auth-name") == "Alice Example")
        #expect(seen.header("x-auth-username") == "alice")
        #expect(seen.header("x-auth-groups") == "staff,billing")
        #expect(seen.header("cookie") == "app-pref=dark", "the app never sees the gateway's cookies")
        #expect(seen.header("x-auth-access-token") == nil)
        // Reloading keeps the session.
        #expect(try await browser.request(setup.base + "/other").response.status == 200)
        // A route without login on the same site does not get the gateway's cookies either.
        let open = try await browser.request(setup.base + "/open/page")
        #expect(EchoReport(open.response)?.header("cookie") == "app-pref=dark")
        let metrics = try await setup.gateway.admin("/metrics")
        #expect(metrics.bodyText.contains(#"tokengate_logins_completed_total{profile="portal",outcome="success"} 1"#))
        await setup.stop()
    }

    @Test("script calls without a session get 401 with a login URL, never a redirect; public paths need no session; bearer clients use validate")
    func apiCalls() async throws {
        let setup = try await LoginSetup.start()
        let browser = CookieBrowser()
        for headers in [["Accept": "application/json"], ["X-Requested-With": "XMLHttpRequest", "Accept": "*/*"],
                        ["Sec-Fetch-Mode": "cors", "Accept": "text/html"], ["Sec-Fetch-Dest": "empty", "Accept": "*/*"]] {
            let response = try await browser.request(setup.base + "/data", headers: headers).response
            #expect(response.status == 401, "\(headers)")
            #expect(response.header("www-authenticate")?.hasPrefix("Bearer") == true)
            #expect(response.bodyText.contains(#""login_url":"/.tokengate/login?return_to=%2Fdata""#))
        }
        let navigation = try await browser.request(setup.base + "/data", headers: ["Sec-Fetch-Mode": "navigate", "Accept": "*/*"]).response
        #expect(navigation.status == 302)
        #expect(try await browser.request(setup.base + "/static/app.css").response.status == 200)
        // /api/ with a JWT: the validate rules apply, no session needed.
        let token = setup.idp.jwtAccessToken(clientID: "demo-caller", scope: "legacy:use", subject: "api-client", audience: JWTSetup.audience)
        let api = try await browser.request(setup.base + "/api/x", headers: ["Authorization": "Bearer \(token)", "Accept": "application/json"]).response
        #expect(api.status == 200)
        #expect(EchoReport(api)?.header("x-auth-subject") == "api-client")
        #expect(setup.echo.requestCount == 2)
        await setup.stop()
    }

    @Test("tampered, truncated, foreign and wrong-key session cookies are no session; a logged-out session replayed is refused")
    func cookieTampering() async throws {
        let setup = try await LoginSetup.start()
        let browser = CookieBrowser()
        _ = try await setup.logIn(browser)
        let good = try #require(browser.cookies(at: setup.origin)[setup.sessionCookie])
        #expect(try await browser.request(setup.base + "/x").response.status == 200)
        var bytes = Array(good.utf8)
        bytes[bytes.count / 2] = bytes[bytes.count / 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        for forged in [String(decoding: bytes, as: UTF8.self), String(good.dropLast(10)), "garbage", ""] {
            #expect(try await setup.status(withSession: forged) == 302, "forged session")
        }
        // The same session under a gateway with another key: refused.
        let otherKey = try await LoginSetup.start(environment: ["COOKIE_KEY": "another-cookie-key-0123456789abcdefghijkl"], idp: setup.idp)
        #expect(try await otherKey.status(withSession: good) == 302)
        await otherKey.gateway.stop()
        await otherKey.echo.stop()

        // Logout: cookies cleared, the provider's end-session with the ID token as hint.
        let loggedOut = try await browser.request(setup.base + "/.tokengate/logout")
        #expect(loggedOut.response.status == 302)
        let endSession = try #require(loggedOut.location)
        #expect(endSession.hasPrefix(setup.idp.url(.endSession) + "?id_token_hint="))
        #expect(endSession.contains("post_logout_redirect_uri=" + FormEncoding.escape(setup.base + "/")))
        #expect(endSession.contains("&state="), "some providers return to post_logout_redirect_uri only with a state")
        #expect(browser.cookies(at: setup.origin)[setup.sessionCookie] == nil)
        // The sealed cookie, kept by an attacker and sent again, no longer works.
        #expect(try await setup.status(withSession: good) == 302)
        await setup.stop()
    }

    @Test("two tabs logging in at once both succeed; a stale callback with a session goes on to the site")
    func parallelTabs() async throws {
        let setup = try await LoginSetup.start()
        let browser = CookieBrowser()
        let tabA = try await browser.request(setup.base + "/a")
        let tabB = try await browser.request(setup.base + "/b")
        #expect(browser.cookies(at: setup.origin).keys.filter { $0.hasPrefix(setup.statePrefix) }.count == 2)
        let landedB = try await setup.completeLogin(browser, authorize: try #require(tabB.location))
        #expect(landedB.location == "/b")
        let landedA = try await setup.completeLogin(browser, authorize: try #require(tabA.location))
        #expect(landedA.location == "/a")
        #expect(try await browser.request(setup.base + "/a").response.status == 200)
        // A browser holds at most five attempts: starting seven keeps the newest five.
        let busy = CookieBrowser()
        for index in 0..<7 { _ = try await busy.request(setup.base + "/tab-\(index)") }
        #expect(busy.cookies(at: setup.origin).keys.filter { $0.hasPrefix(setup.statePrefix) }.count == 5)
        // The back button: the callback again, its state cookie gone, a session present.
        let replay = try await browser.request(setup.base + "/.tokengate/callback?code=used&state=gone")
        #expect(replay.response.status == 302)
        #expect(replay.location == "/")
        // Without a session, the same is a 400 naming the problem.
        let fresh = CookieBrowser()
        let refused = try await fresh.request(setup.base + "/.tokengate/callback?code=x&state=y")
        #expect(refused.response.status == 400)
        #expect(refused.response.bodyText.contains("login_state_invalid"))
        await setup.stop()
    }

    @Test("cookie key rotation: a new first key keeps old sessions; dropping the old key ends them")
    func keyRotation() async throws {
        let idp = try await JWTSetup.startSandbox()
        let before = try await LoginSetup.start(idp: idp)
        let browser = CookieBrowser()
        _ = try await before.logIn(browser)
        let session = try #require(browser.cookies(at: before.origin)[before.sessionCookie])
        await before.gateway.stop()
        await before.echo.stop()
        let rotatedKeys = #"[ { "id": "k2", "secret": { "env": "NEW_KEY" } }, { "id": "k1", "secret": { "env": "COOKIE_KEY" } } ]"#
        let rotated = try await LoginSetup.start(keys: rotatedKeys, environment: ["NEW_KEY": "the-new-cookie-key-abcdefghijklmnopqrstuvwxyz"], idp: idp)
        #expect(try await rotated.status(withSession: session) == 200, "sealed with k1, opened after rotation")
        await rotated.gateway.stop()
        await rotated.echo.stop()
        let retired = try await LoginSetup.start(keys: #"[ { "id": "k2", "secret": { "env": "NEW_KEY" } } ]"#,
                                                 environment: ["NEW_KEY": "the-new-cookie-key-abcdefghijklmnopqrstuvwxyz"], idp: idp)
        #expect(try await retired.status(withSession: session) == 302)
        await retired.stop()
    }

    @Test("concurrent requests needing a refresh make one token request (rotation); a refused refresh ends the session")
    func refreshSingleFlight() async throws {
        var configuration = SandboxAuthorizationServer.Configuration.demo
        configuration.accessTokenLifetime = .seconds(30)
        let idp = try await startSandbox(configuration)
        let setup = try await LoginSetup.start(profileExtras: #", "pass_access_token": true"#, idp: idp)
        let browser = CookieBrowser()
        _ = try await setup.logIn(browser)
        let refreshes = { idp.requests(.token).filter { $0.formValue("grant_type") == "refresh_token" }.count }
        #expect(refreshes() == 0)
        // Ten parallel requests with the same cookie, all due for a refresh.
        let cookie = try #require(browser.cookies(at: setup.origin)[setup.sessionCookie])
        let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<10 {
                group.addTask {
                    let tab = CookieBrowser()
                    tab.setCookie(setup.sessionCookie, cookie, at: setup.origin)
                    let page = try await tab.request(setup.base + "/page/\(index)")
                    return (page.response.status, EchoReport(page.response)?.header("x-auth-access-token"))
                }
            }
            var all: [(Int, String?)] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(!statuses.isEmpty)
        #expect(statuses.allSatisfy { $0.0 == 200 }, "\(statuses.map(\.0))")
        #expect(refreshes() == 1, "one refresh for ten requests")
        #expect(Set(statuses.compactMap(\.1)).count == 1, "every request got the winner's token")
        let fresh = try #require(statuses.first?.1)
        #expect(idp.issuedAccessTokens.last == fresh)
        // Within the grace period the old cookie still gets the refreshed session.
        #expect(try await setup.status(withSession: cookie) == 200)
        #expect(refreshes() == 1)
        // Another session whose refresh the provider refuses is over: a script gets 401,
        // and so does the next request.
        let other = CookieBrowser()
        _ = try await setup.logIn(other)
        idp.setFault(.oauthError("invalid_grant"), on: .token)
        let refused = try await other.request(setup.base + "/x", headers: ["Accept": "application/json"]).response
        #expect(refused.status == 401)
        #expect(try await other.request(setup.base + "/x", headers: ["Accept": "application/json"]).response.status == 401)
        let metrics = try await setup.gateway.admin("/metrics")
        #expect(metrics.bodyText.contains(#"tokengate_login_refreshes_total{profile="portal",outcome="refused"} 1"#))
        await setup.stop()
    }

    @Test("the memory store keeps sessions in the gateway: the cookie holds only a sealed id; logout forgets the session; /status counts them")
    func memoryStore() async throws {
        let setup = try await LoginSetup.start(profileExtras: #", "session": { "store": "memory", "max_sessions": 100 }"#)
        let browser = CookieBrowser()
        _ = try await setup.logIn(browser)
        let cookie = try #require(browser.cookies(at: setup.origin)[setup.sessionCookie])
        #expect(cookie.utf8.count < 200, "a sealed id, not the tokens")
        #expect(EchoReport(try await browser.request(setup.base + "/x").response)?.header("x-auth-subject") == "alice")
        let status = try await setup.gateway.admin("/status")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any])
        let login = try #require((document["login"] as? [[String: Any]])?.first)
        #expect(login["sessions_in_memory"] as? Int == 1)
        #expect(login["cookie_key_ids"] as? [String] == ["k1"])
        #expect(login["authorization_endpoint"] as? String == setup.idp.url(.authorize))
        LeakWatch.expectNoLeaks(in: status.bodyText, "/status")
        let printed = try await runTokenGate(["status", "--admin", "http://127.0.0.1:\(setup.gateway.gateway.adminPort ?? 0)"])
        let tables = printed.stdout.components(separatedBy: "\n\n").map { $0.split(separator: "\n").map(String.init) }
        let table = try #require(tables.first { $0.first?.hasPrefix("LOGIN ") == true })
        #expect(table.contains { $0.hasPrefix("portal ") && $0.contains(" k1 ") && $0.contains(" memory ") && $0.contains(" 1 ") }, "\(table)")
        _ = try await browser.request(setup.base + "/.tokengate/logout")
        #expect(try await setup.status(withSession: cookie) == 302)
        await setup.stop()
    }

    @Test("back-channel logout: a valid logout token ends the user's sessions; replayed, eventless or nonce-bearing tokens are refused")
    func backchannelLogout() async throws {
        let setup = try await LoginSetup.start()
        let browser = CookieBrowser()
        _ = try await setup.logIn(browser)
        #expect(try await browser.request(setup.base + "/x").response.status == 200)
        let now = Int(Date().timeIntervalSince1970)
        func logoutToken(_ changes: [String: Any?] = [:]) throws -> String {
            var claims: [String: Any] = [
                "iss": setup.idp.issuer, "aud": "legacy-portal", "iat": now, "exp": now + 120, "jti": UUID().uuidString, "sub": "alice",
                "events": ["http://schemas.openid.net/event/backchannel-logout": [String: Any]()],
            ]
            for (key, value) in changes { claims[key] = value }
            return try setup.idp.mintJWT(header: ["typ": "logout+jwt"], claims: claims)
        }
        func post(_ token: String) async throws -> TestResponse {
            let body = "logout_token=" + FormEncoding.escape(token)
            return try #require(try await RawHTTPConnection.roundTrip(
                port: setup.port,
                "POST /.tokengate/backchannel-logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            ))
        }
        for (name, token) in [("no events", try logoutToken(["events": nil])), ("a nonce", try logoutToken(["nonce": "n"])),
                              ("another audience", try logoutToken(["aud": "someone-else"])), ("neither sid nor sub", try logoutToken(["sub": nil])),
                              ("no iat", try logoutToken(["iat": nil]))] {
            let refused = try await post(token)
            #expect(refused.status == 400, "\(name)")
        }
        #expect(try await browser.request(setup.base + "/x").response.status == 200, "refused tokens end nothing")
        // A body past 64 KiB is not held: 413.
        #expect(try await post(String(repeating: "A", count: 70_000)).status == 413)
        let good = try logoutToken()
        #expect(try await post(good).status == 200)
        #expect(try await browser.request(setup.base + "/x").response.status == 302, "the session is over")
        #expect(try await post(good).status == 400, "a replayed jti does nothing")
        // A new login after the logout is a new session.
        _ = try await setup.logIn(browser)
        #expect(try await browser.request(setup.base + "/x").response.status == 200)
        await setup.stop()
    }

    @Test("two login profiles on one host with one shared cookie key: a session one made is refused on the other's routes; both sessions live side by side")
    func profilesOnOneHost() async throws {
        let idp = try await JWTSetup.startSandbox()
        let echo = try await EchoUpstream.start()
        let port = try await freeLoopbackPort()
        func profile(_ prefix: String, key: String) -> String {
            """
            { "issuer": "\(idp.issuer)", "client_id": "legacy-portal", "client_secret": { "env": "PORTAL_SECRET" }, "path_prefix": "/\(prefix)/.tokengate/",
              "cookie_keys": [ { "id": "k1", "secret": { "env": "\(key)" } } ], "external_url": "http://127.0.0.1:\(port)" }
            """
        }
        let json = """
        { "listeners": { "main": { "address": "127.0.0.1:\(port)" } }, "admin": { "address": "127.0.0.1:0" },
          "login": { "staff": \(profile("staff", key: "STAFF_KEY")), "partners": \(profile("partners", key: "PARTNERS_KEY")) },
          "routes": [
            { "name": "staff", "listener": "main", "match": { "path_prefix": "/staff/" }, "upstream": "http://127.0.0.1:\(echo.port)/", "login": "staff" },
            { "name": "partners", "listener": "main", "match": { "path_prefix": "/partners/" }, "upstream": "http://127.0.0.1:\(echo.port)/", "login": "partners" } ] }
        """
        // `tokengate check` refuses one key for both (LoginConfigTests.cookieKeysPerHost);
        // the gateway keeps them apart without it too (a configuration from before the check).
        let environment = ["PORTAL_SECRET": LoginSetup.portalSecret, "STAFF_KEY": LoginSetup.cookieKey, "PARTNERS_KEY": "another-cookie-key-0123456789abcdefghijkl"]
        let resolver = SecretResolver(environment: environment)
        var loaded = try ConfigLoader(resolver: resolver).load(bytes: Array(json.utf8))
        let staffKeys = try #require(loaded.config.loginProfile(named: "staff")?.cookieKeys)
        let partners = try #require(loaded.config.login.firstIndex { $0.name == "partners" })
        loaded.config.login[partners].cookieKeys = staffKeys
        LeakWatch.register(environment.values)
        let logs = LogCapture()
        let started = try await Gateway.start(loaded, logger: logs.logger(), resolver: resolver, telemetry: logs.telemetry())
        let setup = LoginSetup(idp: idp, echo: echo, gateway: TestGateway(gateway: started, logs: logs), port: port)
        let staffCookies = LoginCookies(secure: false, scope: CookieScope(profile: "staff", issuer: idp.issuer))
        let partnersCookies = LoginCookies(secure: false, scope: CookieScope(profile: "partners", issuer: idp.issuer))
        #expect(staffCookies.session != partnersCookies.session)

        let browser = CookieBrowser()
        let partnersLogin = try await browser.request(setup.base + "/partners/home")
        #expect(partnersLogin.response.status == 302)
        let landed = try await setup.completeLogin(browser, authorize: try #require(partnersLogin.location), callbackPath: "/partners/.tokengate/callback")
        #expect(landed.location == "/partners/home")
        #expect(try await browser.request(setup.base + "/partners/home").response.status == 200)
        let session = try #require(browser.cookies(at: setup.origin)[partnersCookies.session])
        // The partners' session is no session on the staff app, under its own name or under
        // the staff app's.
        #expect(try await browser.request(setup.base + "/staff/home", headers: ["Accept": "application/json"]).response.status == 401)
        let forger = CookieBrowser()
        forger.setCookie(staffCookies.session, session, at: setup.origin)
        #expect(try await forger.request(setup.base + "/staff/home", headers: ["Accept": "application/json"]).response.status == 401)
        #expect(try await forger.request(setup.base + "/staff/home").response.status == 302, "sent to the staff app's login")
        #expect(setup.echo.requestCount == 1, "the staff app saw no request")

        // Logged in to both, the browser holds two sessions that do not overwrite each other.
        let staffLogin = try await browser.request(setup.base + "/staff/home")
        #expect(staffLogin.response.status == 302)
        _ = try await setup.completeLogin(browser, authorize: try #require(staffLogin.location), callbackPath: "/staff/.tokengate/callback")
        #expect(try await browser.request(setup.base + "/staff/home").response.status == 200)
        #expect(try await browser.request(setup.base + "/partners/home").response.status == 200)
        #expect(browser.cookies(at: setup.origin)[partnersCookies.session] == session)
        await setup.stop()
    }

    @Test("a reload that changes the login profile keeps its sessions, and forgets no logout")
    func reloadKeepsLogouts() async throws {
        let idp = try await JWTSetup.startSandbox()
        let echo = try await EchoUpstream.start()
        let port = try await freeLoopbackPort()
        func document(idle: Int) -> String {
            """
            { "listeners": { "main": { "address": "127.0.0.1:\(port)" } }, "admin": { "address": "127.0.0.1:0" },
              "login": { "portal": { "issuer": "\(idp.issuer)", "client_id": "legacy-portal", "client_secret": { "env": "PORTAL_SECRET" },
                                     "cookie_keys": [ { "id": "k1", "secret": { "env": "COOKIE_KEY" } } ], "external_url": "http://127.0.0.1:\(port)",
                                     "session": { "idle_timeout_seconds": \(idle) } } },
              "routes": [ { "name": "app", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)", "login": "portal" } ] }
            """
        }
        let watched = try await WatchedGateway.start(document(idle: 1800), environment: ["PORTAL_SECRET": LoginSetup.portalSecret, "COOKIE_KEY": LoginSetup.cookieKey], watch: false)
        let setup = LoginSetup(idp: idp, echo: echo, gateway: TestGateway(gateway: watched.gateway, logs: watched.logs), port: port)
        let kept = CookieBrowser()
        _ = try await setup.logIn(kept)
        let leaving = CookieBrowser()
        _ = try await setup.logIn(leaving)
        let copy = try #require(leaving.cookies(at: setup.origin)[setup.sessionCookie])
        _ = try await leaving.request(setup.base + "/.tokengate/logout")
        try document(idle: 3600).write(toFile: watched.path, atomically: true, encoding: .utf8)
        #expect(await watched.gateway.reload(trigger: "test").succeeded)
        #expect(try await kept.request(setup.base + "/x").response.status == 200, "sessions survive a reload")
        #expect(try await setup.status(withSession: copy) == 302, "the logged-out session stays logged out")
        await watched.stop()
        await echo.stop()
        await idp.stop()
    }
}
