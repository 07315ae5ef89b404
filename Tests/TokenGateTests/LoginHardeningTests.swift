import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing
@testable import TokenGate
import TokenGateSandbox

/// The rules behind browser login's hardening, as values: which requests another site's
/// page sent, which `Set-Cookie` fields would set the gateway's cookies, which request a
/// finished refresh may answer, and how a body the gateway reads itself is held.
@Suite("Browser login hardening: the rules")
struct LoginHardeningRuleTests {
    @Test("Sec-Fetch-Site decides (same-origin and none are the site's own); without it a foreign or null Origin is another site; neither is the site's own")
    func crossSiteSignals() {
        let base = "https://app.example.com"
        let cases: [(fetchSite: String?, origin: String?, crossSite: Bool)] = [
            (nil, nil, false), ("same-origin", nil, false), ("none", nil, false), ("Same-Origin", nil, false),
            ("cross-site", nil, true), ("same-site", nil, true), ("bogus", nil, true), ("", nil, true),
            ("cross-site", base, true), ("same-origin", "https://evil.example", false),
            (nil, base, false), (nil, "https://APP.example.com:443", false), (nil, "https://app.example.com/", false),
            (nil, "http://app.example.com", true), (nil, "https://app.example.com:8443", true), (nil, "https://evil.example", true),
            (nil, "https://app.example.com.evil.example", true), (nil, "null", true), (nil, "", true),
        ]
        for entry in cases {
            #expect(LoginRequest.isCrossSite(fetchSite: entry.fetchSite, origin: entry.origin, base: base) == entry.crossSite,
                    "Sec-Fetch-Site \(entry.fetchSite ?? "absent"), Origin \(entry.origin ?? "absent")")
        }
    }

    @Test("on a plain-http site off loopback (no Sec-Fetch-*, no Origin on a GET) only a Referer of the site's own origin makes a request the site's; https and loopback sites are unchanged")
    func crossSiteSignalsOnPlainHTTP() {
        let base = "http://app.internal:8080"
        let cases: [(fetchSite: String?, origin: String?, referer: String?, crossSite: Bool)] = [
            (nil, nil, nil, true), (nil, nil, "", true), (nil, nil, "garbage", true), (nil, nil, "http://evil.example/page", true),
            (nil, nil, "http://app.internal/page", true), (nil, nil, "https://app.internal:8080/page", true),
            (nil, nil, "http://app.internal:8080.evil.example/", true), (nil, nil, "http://app.internal:8080@evil.example/", true),
            (nil, nil, "http://app.internal:8080/page?x=1", false), (nil, nil, "http://APP.internal:8080", false),
            (nil, nil, "http://app.internal:8080/", false),
            // Origin and Sec-Fetch-Site still decide when a browser sends them.
            (nil, base, nil, false), (nil, "http://evil.example", base + "/", true), ("same-origin", nil, nil, false),
            ("cross-site", nil, base + "/", true),
        ]
        for entry in cases {
            #expect(LoginRequest.isCrossSite(fetchSite: entry.fetchSite, origin: entry.origin, referer: entry.referer, base: base) == entry.crossSite,
                    "Sec-Fetch-Site \(entry.fetchSite ?? "absent"), Origin \(entry.origin ?? "absent"), Referer \(entry.referer ?? "absent")")
        }
        // Browsers send Sec-Fetch-* to https and loopback sites: there, neither header is still the site's own.
        for trustworthy in ["https://app.example.com", "http://127.0.0.1:8080", "http://127.5.6.7", "http://localhost:3000",
                            "http://dev.localhost", "http://[::1]:8080"] {
            #expect(LoginRequest.sendsFetchMetadata(trustworthy), "\(trustworthy)")
            #expect(!LoginRequest.isCrossSite(fetchSite: nil, origin: nil, referer: nil, base: trustworthy), "\(trustworthy)")
        }
        for plain in ["http://app.internal", "http://10.0.0.5:8080", "http://127.0.0.1.evil.example", "http://localhost.evil.example", "http://[::2]"] {
            #expect(!LoginRequest.sendsFetchMetadata(plain), "\(plain)")
        }
    }

    @Test("the logout confirmation is an unframeable page posting back to the logout endpoint, with what it reflects escaped")
    func confirmationPage() throws {
        let answer = LogoutConfirmation.answer(action: "/.tokengate/logout", returnTo: "/after?a=1&b=2", route: "app")
        #expect(answer.status == .ok)
        let page = try #require(answer.page)
        #expect(page.contains(#"<form method="post" action="/.tokengate/logout?return_to=%2Fafter%3Fa%3D1%26b%3D2">"#))
        let head = answer.head(version: .http1_1, contentLength: page.utf8.count, keepAlive: true)
        #expect(head.headers["content-type"] == ["text/html; charset=utf-8"])
        #expect(head.headers["x-frame-options"] == ["DENY"])
        #expect(head.headers.first(name: "content-security-policy")?.contains("frame-ancestors 'none'") == true)
        #expect(head.headers["cache-control"] == ["no-store"])
        #expect(String(buffer: answer.body(allocator: ByteBufferAllocator())) == page)
        #expect(LogoutConfirmation.htmlEscaped(#"<a href='x' title="y">&</a>"#) == "&lt;a href=&#39;x&#39; title=&quot;y&quot;&gt;&amp;&lt;/a&gt;")
        // Without a return target the form posts to the endpoint alone.
        #expect(LogoutConfirmation.answer(action: "/.tokengate/logout", returnTo: nil, route: "app").page?.contains(#"action="/.tokengate/logout">"#) == true)
    }

    @Test("a Set-Cookie for a tg-, __Host-tg- or __Secure-tg- name, or a nameless one a browser sends back as such, is the gateway's; case and attributes do not make one")
    func gatewayCookieNames() {
        let names = LoginCookies.Names()
        let own = [
            "tg-session=x", "tg-1a2b3c4d-session.1=x; Path=/", "__Host-tg-1a2b3c4d-state-00ff=x; Path=/; Secure; HttpOnly",
            "__Secure-tg-x=1; Secure", " tg-session=x", "\ttg-session=x", "=tg-session=x", " =  tg-session=x; Path=/",
            "=__Host-tg-session=x", "tg-session", "tg-=x",
        ]
        for value in own { #expect(names.isOwn(setCookie: value), "\(value.debugDescription)") }
        let others = [
            "app=1", "app=tg-session", "TG-session=x", "__host-tg-session=x", "Tg-session=x", "xtg-session=x",
            "app=1; tg-session=2", "__Host-app=1; Path=/; Secure", "; tg-session=x", "",
        ]
        for value in others { #expect(!names.isOwn(setCookie: value), "\(value.debugDescription)") }
    }

    @Test("with a login profile the client's head loses the upstream's Set-Cookie for the gateway's cookies, and only those; without one nothing changes")
    func responseHeadDropsGatewayCookies() throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "2")
        headers.add(name: "Set-Cookie", value: "tg-1a2b3c4d-session=planted; Path=/")
        headers.add(name: "set-cookie", value: "=__Host-tg-1a2b3c4d-session=planted")
        headers.add(name: "Set-Cookie", value: "app=1; Path=/")
        headers.add(name: "X-Note", value: "tg-session=planted is no cookie here")
        let upstream = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
        func text(_ shaped: ResponseRules.ClientHead) -> String { String(decoding: shaped.head.buffer.readableBytesView, as: UTF8.self) }

        let guarded = try #require(ResponseRules.clientHead(
            from: upstream, method: .GET, clientVersion: .http1_1, gatewayCookies: LoginCookies.Names(), allocator: ByteBufferAllocator()
        ))
        #expect(guarded.droppedCookies == 2)
        #expect(!text(guarded).lowercased().contains("set-cookie: tg-") && !text(guarded).contains("=__Host-"))
        #expect(text(guarded).contains("Set-Cookie: app=1; Path=/\r\n"))
        #expect(text(guarded).contains("X-Note: tg-session=planted is no cookie here\r\n"), "only Set-Cookie fields are looked into")
        #expect(text(guarded).contains("Content-Length: 2\r\n"))

        let unguarded = try #require(ResponseRules.clientHead(from: upstream, method: .GET, clientVersion: .http1_1, allocator: ByteBufferAllocator()))
        #expect(unguarded.droppedCookies == 0)
        #expect(text(unguarded).contains("Set-Cookie: tg-1a2b3c4d-session=planted; Path=/\r\n"), "without a login profile tg- is any app's name")
    }

    // MARK: Session refreshes

    private static let start = ContinuousClock.now

    private static func session(refresh: String?, token: String = "at-0", expiresAt: Int? = 1_000) -> LoginSession {
        LoginSession(
            id: "s1", subject: "alice", providerSessionID: nil, loginAt: 0, seenAt: 0, expiresAt: 100_000, claims: [:],
            accessToken: token, accessTokenExpiresAt: expiresAt, refreshToken: refresh, idToken: nil
        )
    }

    /// A step in words: `start R1` (the refresh token spent), `answer at-1` (the access
    /// token handed on), `join`.
    private static func describe(_ step: SessionRefreshTable.Step) -> String {
        switch step {
        case .join: return "join"
        case .start(let session): return "start \(session.refreshToken ?? "-")"
        case .answer(.refreshed(let session)): return "answer \(session.accessToken ?? "-")"
        case .answer(.ended): return "answer ended"
        case .answer(.unavailable): return "answer unavailable"
        case .answer(.storeUnavailable): return "answer store unavailable"
        }
    }

    private static func lookup(_ table: inout SessionRefreshTable, _ session: LoginSession, after seconds: Int, wall: Int) -> String {
        describe(table.lookup(session, waiter: { _ in }, now: start + .seconds(seconds), wallNow: wall))
    }

    @Test("one token request per session: the first request starts it, the rest join and are all told")
    func refreshTableSingleFlight() {
        var table = SessionRefreshTable()
        let old = Self.session(refresh: "R0")
        #expect(Self.lookup(&table, old, after: 0, wall: 1_000) == "start R0")
        #expect(Self.lookup(&table, old, after: 0, wall: 1_000) == "join")
        #expect(Self.lookup(&table, old, after: 1, wall: 1_001) == "join")
        let waiters = table.settle("s1", with: .refreshed(Self.session(refresh: "R1", token: "at-1", expiresAt: 1_030)), now: Self.start + .seconds(1))
        #expect(waiters.count == 3)
    }

    @Test("within the grace only a request presenting the spent refresh token gets the result; the new cookie refreshes as usual")
    func graceAnswersOnlyTheReplacedToken() {
        var table = SessionRefreshTable()
        let old = Self.session(refresh: "R0")
        let new = Self.session(refresh: "R1", token: "at-1", expiresAt: 1_020)
        #expect(Self.lookup(&table, old, after: 0, wall: 1_000) == "start R0")
        _ = table.settle("s1", with: .refreshed(new), now: Self.start)
        #expect(Self.lookup(&table, old, after: 5, wall: 1_005) == "answer at-1", "a straggler with the old cookie")
        #expect(Self.lookup(&table, new, after: 6, wall: 1_006) == "answer at-1", "the new cookie, while its token lives")
        // Before, the new cookie was answered with the same result for 30 s, past its token's expiry.
        #expect(Self.lookup(&table, new, after: 20, wall: 1_020) == "start R1")
        let other = LoginSession(
            id: "s1", subject: "alice", providerSessionID: nil, loginAt: 0, seenAt: 0, expiresAt: 100_000, claims: [:],
            accessToken: "at-x", accessTokenExpiresAt: 1_020, refreshToken: "R9", idToken: nil
        )
        var fresh = SessionRefreshTable()
        #expect(Self.lookup(&fresh, old, after: 0, wall: 1_000) == "start R0")
        _ = fresh.settle("s1", with: .refreshed(new), now: Self.start)
        #expect(Self.lookup(&fresh, other, after: 1, wall: 1_001) == "start R9", "a refresh token the table does not know refreshes as usual")
    }

    @Test("with a 30 s access token (inside the refresh-ahead window) a burst of requests carrying the cookie a refresh just produced makes no second token request; at its expiry one does")
    func newCookieReusesItsRefresh() {
        var table = SessionRefreshTable()
        let old = Self.session(refresh: "R0", expiresAt: 1_000)
        let new = Self.session(refresh: "R1", token: "at-1", expiresAt: 1_030)
        #expect(Self.lookup(&table, old, after: 0, wall: 1_000) == "start R0")
        _ = table.settle("s1", with: .refreshed(new), now: Self.start)
        var starts = 0
        for second in 1...29 {
            for _ in 0..<5 {
                let step = Self.lookup(&table, new, after: second, wall: 1_000 + second)
                if step.hasPrefix("start") { starts += 1 }
                #expect(step == "answer at-1", "second \(second)")
            }
            #expect(Self.lookup(&table, old, after: second, wall: 1_000 + second) == "answer at-1", "stragglers too")
        }
        #expect(starts == 0, "R1 is not spent seconds after it was issued")
        // Never an expired token: at its expiry the new cookie refreshes, once.
        #expect(Self.lookup(&table, new, after: 29, wall: 1_030) == "start R1")
        #expect(Self.lookup(&table, new, after: 29, wall: 1_030) == "join")
    }

    @Test("the grace never hands on an expired access token: a straggler then refreshes the newer session, never spending its own token again")
    func graceNeverAnswersExpired() {
        var table = SessionRefreshTable()
        let old = Self.session(refresh: "R0")
        #expect(Self.lookup(&table, old, after: 0, wall: 1_000) == "start R0")
        _ = table.settle("s1", with: .refreshed(Self.session(refresh: "R1", token: "at-1", expiresAt: 1_010)), now: Self.start)
        #expect(Self.lookup(&table, old, after: 9, wall: 1_009) == "answer at-1")
        #expect(Self.lookup(&table, old, after: 10, wall: 1_010) == "start R1", "at its expiry the token is not handed on")
    }

    @Test("a chain of refreshes within the grace still answers the oldest cookie with the newest session; the grace ends")
    func graceFollowsAChain() {
        var table = SessionRefreshTable()
        let first = Self.session(refresh: "R0")
        let second = Self.session(refresh: "R1", token: "at-1", expiresAt: 1_010)
        #expect(Self.lookup(&table, first, after: 0, wall: 1_000) == "start R0")
        _ = table.settle("s1", with: .refreshed(second), now: Self.start)
        #expect(Self.lookup(&table, second, after: 10, wall: 1_010) == "start R1")
        #expect(Self.lookup(&table, first, after: 10, wall: 1_010) == "join")
        _ = table.settle("s1", with: .refreshed(Self.session(refresh: "R2", token: "at-2", expiresAt: 1_020)), now: Self.start + .seconds(10))
        #expect(Self.lookup(&table, first, after: 11, wall: 1_011) == "answer at-2", "R0 was spent two refreshes ago")
        #expect(Self.lookup(&table, second, after: 12, wall: 1_012) == "answer at-2")
        // Thirty seconds after the last refresh the table has forgotten it.
        #expect(Self.lookup(&table, first, after: 41, wall: 1_041) == "start R0")
    }

    @Test("a refresh that could not be made answers requests with its token for the grace (no retry storm)")
    func unavailableIsKept() {
        var table = SessionRefreshTable()
        let old = Self.session(refresh: "R0")
        #expect(Self.lookup(&table, old, after: 0, wall: 1_000) == "start R0")
        _ = table.settle("s1", with: .unavailable, now: Self.start)
        #expect(Self.lookup(&table, old, after: 5, wall: 1_005) == "answer unavailable")
        #expect(Self.lookup(&table, old, after: 31, wall: 1_031) == "start R0")
    }

    // MARK: Cookies from before the profile tag

    @Test("a Cookie holding names from before the profile tag gets Max-Age=0 deletions with the attributes they were set with; the profile's own and the app's names get none")
    func legacyCookiesDeleted() throws {
        let secure = LoginCookies(secure: true, scope: LoginFoundationTests.portal)
        let header = "app=1; __Host-tg-session=a; __Host-tg-session.1=b; \(secure.session)=new; __Host-tg-state-0123456789abcdef=c; "
            + "tg-session=d; tg-session.3=e; __Host-tg-session=dup; tg-session.4=x; tg-state-0123=x; tg-state-0123456789ABCDEF=x; tg-sessionx=y"
        let deletions = secure.legacyDeletions([header]).map { $0.value }
        #expect(deletions == [
            "__Host-tg-session=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0",
            "__Host-tg-session.1=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0",
            "__Host-tg-state-0123456789abcdef=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0",
            "tg-session=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0",
            "tg-session.3=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0",
        ])
        #expect(secure.legacyDeletions([header]).allSatisfy { $0.name == "Set-Cookie" })
        // Plain-http development: only a __Host- name needs Secure.
        let plain = LoginCookies(secure: false, scope: LoginFoundationTests.portal)
        #expect(plain.legacyDeletions(["tg-session=a; __Host-tg-session=b"]).map { $0.value } == [
            "tg-session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
            "__Host-tg-session=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0",
        ])
        // Nothing to delete: the new names, the app's, none at all.
        #expect(secure.legacyDeletions(["\(secure.session)=x; \(secure.sessionPart(1))=y; \(secure.stateCookie(for: "s"))=z; app=tg-session"]).isEmpty)
        #expect(secure.legacyDeletions([]).isEmpty)
        // However many a client sends, a bounded number of deletions.
        let many = (0..<200).map { "tg-state-000000000000\(1_000 + $0)=x" }.joined(separator: "; ")
        #expect(secure.legacyDeletions([many]).count == LoginCookies.maxLegacy)

        // The request a login route sees carries them, for every response it shapes.
        let profile = try LoginRevocationTests.profile(revocationCapacity: 8)
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/page", headers: ["Host": "app.example.com", "Cookie": header])
        let request = LoginRequest(head: head, path: "/page", query: nil, authority: "app.example.com", forwardedProto: nil, login: profile)
        #expect(request.legacyDeletions.map { $0.value } == deletions)
        #expect(request.cookies.keys.sorted() == [profile.cookies.session], "the old names are not read")
        let clean = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/page", headers: ["Host": "app.example.com", "Cookie": "app=1"])
        #expect(LoginRequest(head: clean, path: "/page", query: nil, authority: "app.example.com", forwardedProto: nil, login: profile).legacyDeletions.isEmpty)
    }

    // MARK: Identity claims at the callback

    @Test("an ID token whose mapped claim is an unrepresentable list or holds a control character makes no session: the login is refused naming the claim; safe claims are kept")
    func unsafeIdentityClaimsRefuseLogin() throws {
        let profile = try LoginRevocationTests.profile(revocationCapacity: 8)
        let issued = IssuedToken(accessToken: Redacted("at"), expiresIn: .seconds(300), refreshToken: nil, scope: nil, tokenType: "Bearer")
        /// The claims of an ID token payload, read as the JWT path reads them.
        func claims(_ json: String) throws -> IntrospectionClaims {
            try #require(IntrospectionClaims.parse(Array(("{\"active\":true," + String(json.dropFirst())).utf8), now: 1_800_000_000))
        }
        let refused: [(json: String, claim: String)] = [
            (#"{"sub":"alice","groups":["staff,admin"]}"#, "groups"),
            (#"{"sub":"alice","groups":["staff",""]}"#, "groups"),
            (#"{"sub":"alice","groups":[" staff"]}"#, "groups"),
            (#"{"sub":"alice","name":"ali\rce"}"#, "name"),
            (#"{"sub":"ali\u0007ce"}"#, "sub"),
            (#"{"sub":"alice","email":"a@example.com\n"}"#, "email"),
        ]
        for entry in refused {
            let parsed = try claims(entry.json)
            let result = profile.makeSession(claims: parsed, issued: issued, idToken: "id", now: 1_800_000_000)
            guard case .failure(let refusal) = result else {
                Issue.record("\(entry.json) made a session")
                continue
            }
            #expect(refusal.claim == entry.claim, "\(entry.json)")
            #expect(refusal.detail.hasPrefix("its \(entry.claim) claim "), "\(refusal.detail)")
            #expect(refusal.detail.contains("X-Auth-"), "names the header: \(refusal.detail)")
        }
        let safe = try claims(#"{"sub":"alice","groups":["staff","billing"],"name":"Alice B"}"#)
        let kept = profile.makeSession(claims: safe, issued: issued, idToken: "id", now: 1_800_000_000)
        guard case .success(let session) = kept else {
            Issue.record("a safe ID token was refused")
            return
        }
        #expect(session.claims["groups"] == "staff,billing")
        #expect(session.claims["name"] == "Alice B")
        #expect(session.claims["sub"] == "alice")
    }

    // MARK: A body the gateway reads itself

    @Test("a back-channel logout body sent in 64 Ki 1-byte reads is held in one buffer, pinning none of the reads")
    func ownBodyIsOneBuffer() throws {
        let json = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:1/" } ] }
        """
        let loaded = try ConfigLoader(resolver: SecretResolver(environment: [:])).load(bytes: Array(json.utf8))
        let snapshot = try ConfigSnapshot(loaded, metrics: GatewayMetrics())
        let planner = try #require(snapshot.planner(forListener: "main"))
        let limit = Admission.logoutBodyLimit
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/.tokengate/backchannel-logout",
                                   headers: ["Host": "a", "Content-Length": "\(limit)"])
        let allocator = ByteBufferAllocator()
        var ids = RequestIDGenerator()
        let plan = try planner.plan(head, peer: nil, peerText: "127.0.0.1", requestIDs: &ids, allocator: allocator).get()
        let exchange = Exchange(plan: plan, head: head, startedAt: .now(), accessLog: snapshot.accessLog, allocator: allocator)
        // A part already held when the gateway decides to read the body joins the copy.
        var early = allocator.buffer(capacity: 2048)
        early.writeString("l")
        exchange.hold(early)
        exchange.readsBodyItself(limit: limit, allocator: allocator)
        var last = allocator.buffer(capacity: 0)
        for _ in 1..<limit {
            // Each byte in a read buffer of its own, as a client sending 1-byte segments makes.
            last = allocator.buffer(capacity: 2048)
            last.writeString("o")
            exchange.hold(last.getSlice(at: 0, length: 1) ?? ByteBuffer())
        }
        #expect(exchange.pendingBody.isEmpty)
        let held = try #require(exchange.ownBody?.buffer)
        #expect(held.readableBytes == limit)
        #expect(held.capacity <= 2 * limit, "one buffer of about the body's size, not \(limit) read buffers")
        #expect(held.getString(at: held.readerIndex, length: 2) == "lo")
        // Nothing holds the last read buffer: writing to it needs no copy.
        let before = last.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        let after = last.withVeryUnsafeMutableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(before == after, "a held slice would keep the read buffer alive")
    }
}

/// The same, through a real gateway with the sandbox as the provider.
@Suite("Browser login hardening through the gateway")
struct LoginHardeningFlowTests {
    /// The session cookie `browser` holds (`tg-…session`, whatever the profile's tag).
    private static func sessionCookie(_ browser: CookieBrowser, at origin: String) -> (name: String, value: String)? {
        browser.cookies(at: origin).first { $0.key.hasPrefix("tg-") && $0.key.hasSuffix("session") }.map { ($0.key, $0.value) }
    }

    @Test("a logout another site's page sends (cross-site, same-site, a foreign or null Origin) ends nothing and asks; the confirmation's POST logs out")
    func crossSiteLogoutAsksFirst() async throws {
        let setup = try await LoginSetup.start()
        let browser = CookieBrowser()
        _ = try await setup.logIn(browser)
        let session = try #require(Self.sessionCookie(browser, at: setup.origin))
        let logout = setup.base + "/.tokengate/logout?return_to=%2Fbye"
        let navigation = ["Accept": "text/html", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"]
        let foreign: [(name: String, headers: [String: String], method: String)] = [
            ("a link on another site", navigation.merging(["Sec-Fetch-Site": "cross-site"]) { $1 }, "GET"),
            ("a sibling subdomain", navigation.merging(["Sec-Fetch-Site": "same-site"]) { $1 }, "GET"),
            ("an auto-submitted form", navigation.merging(["Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"]) { $1 }, "POST"),
            ("an old browser's form", ["Accept": "text/html", "Origin": "https://evil.example"], "POST"),
            ("an opaque origin", ["Accept": "text/html", "Origin": "null"], "POST"),
        ]
        for (name, headers, method) in foreign {
            let page = try await browser.request(logout, method: method, headers: headers, body: method == "POST" ? "" : nil).response
            #expect(page.status == 200, "\(name)")
            #expect(page.header("content-type")?.hasPrefix("text/html") == true, "\(name)")
            #expect(page.bodyText.contains(#"<form method="post" action="/.tokengate/logout?return_to=%2Fbye">"#), "\(name)")
            #expect(page.header("x-frame-options") == "DENY", "\(name)")
            #expect(page.header("set-cookie") == nil, "\(name): no cookie is touched")
            #expect(Self.sessionCookie(browser, at: setup.origin)?.value == session.value, "\(name)")
        }
        #expect(try await browser.request(setup.base + "/x").response.status == 200, "still logged in")
        let metrics = try await setup.gateway.admin("/metrics")
        #expect(!metrics.bodyText.contains("tokengate_logouts_total"), "no logout was counted")

        // The button: a same-origin POST (an older browser sends only Origin).
        let confirmed = try await browser.request(logout, method: "POST", headers: ["Accept": "text/html", "Origin": setup.base], body: "")
        #expect(confirmed.response.status == 302)
        let endSession = try #require(confirmed.location)
        #expect(endSession.hasPrefix(setup.idp.url(.endSession) + "?id_token_hint="))
        #expect(endSession.contains("post_logout_redirect_uri=" + FormEncoding.escape(setup.base + "/bye")))
        #expect(Self.sessionCookie(browser, at: setup.origin) == nil)
        let replayed = CookieBrowser()
        replayed.setCookie(session.name, session.value, at: setup.origin)
        #expect(try await replayed.request(setup.base + "/x").response.status == 302, "the session is over")

        // A typed address or a bookmark (Sec-Fetch-Site: none), and a link on the app's own pages, log out at once.
        for site in ["none", "same-origin"] {
            let again = CookieBrowser()
            _ = try await setup.logIn(again)
            let direct = try await again.request(setup.base + "/.tokengate/logout", headers: navigation.merging(["Sec-Fetch-Site": site]) { $1 })
            #expect(direct.response.status == 302, "\(site)")
            #expect(Self.sessionCookie(again, at: setup.origin) == nil, "\(site)")
        }
        await setup.stop()
    }

    @Test("an app's Set-Cookie for the gateway's cookies never reaches the browser, on login routes and others: the session survives, the app's own cookies pass, the drop is counted without the value")
    func upstreamCannotSetGatewayCookies() async throws {
        let idp = try await JWTSetup.startSandbox()
        let echo = try await EchoUpstream.start()
        let planted = NIOLockedValueBox("tg-session")
        let app = try await ScriptedUpstream.start { _ in
            let name = planted.withLockedValue { $0 }
            return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                + "Set-Cookie: \(name)=planted-value; Path=/\r\n"
                + "Set-Cookie: =\(name)=planted-value; Path=/\r\n"
                + "Set-Cookie: __Host-\(name)=planted-value; Path=/; Secure\r\n"
                + "Set-Cookie: __Secure-tg-x=planted-value; Secure\r\n"
                + "set-cookie:  tg-state-0123456789abcdef=planted-value\r\n"
                + "Set-Cookie: app-theme=dark; Path=/\r\n"
                + "Set-Cookie: TG-note=kept\r\n"
                + "\r\nok"
        }
        let port = try await freeLoopbackPort()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:\(port)" } }, "admin": { "address": "127.0.0.1:0" },
          "login": { "portal": { "issuer": "\(idp.issuer)", "client_id": "legacy-portal", "client_secret": { "env": "PORTAL_SECRET" },
                                 "cookie_keys": [ { "id": "k1", "secret": { "env": "COOKIE_KEY" } } ], "external_url": "http://127.0.0.1:\(port)" } },
          "routes": [
            { "name": "app", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(app.port)", "login": "portal" },
            { "name": "open", "listener": "main", "match": { "path_prefix": "/open/" }, "upstream": "http://127.0.0.1:\(app.port)" } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["PORTAL_SECRET": LoginSetup.portalSecret, "COOKIE_KEY": LoginSetup.cookieKey])
        let setup = LoginSetup(idp: idp, echo: echo, gateway: gateway, port: port)
        let browser = CookieBrowser()
        _ = try await setup.logIn(browser)
        let session = try #require(Self.sessionCookie(browser, at: setup.origin))
        planted.withLockedValue { $0 = session.name }

        for path in ["/page", "/open/page"] {
            let page = try await browser.request(setup.base + path).response
            #expect(page.status == 200, "\(path)")
            let setCookies = page.headers.filter { $0.name.lowercased() == "set-cookie" }.map(\.value)
            #expect(!setCookies.contains { $0.contains("planted-value") }, "\(path): \(setCookies.count) fields")
            #expect(setCookies.contains("app-theme=dark; Path=/"), "\(path): the app's own cookies pass")
            #expect(setCookies.contains("TG-note=kept"), "\(path): names are case-sensitive")
            #expect(Self.sessionCookie(browser, at: setup.origin)?.value == session.value, "\(path): the session cookie is the gateway's")
        }
        #expect(try await browser.request(setup.base + "/next").response.status == 200, "still logged in")
        let metrics = try await setup.gateway.admin("/metrics")
        #expect(metrics.bodyText.contains(#"tokengate_upstream_gateway_cookies_dropped_total{listener="main",route="app"} 10"#))
        #expect(metrics.bodyText.contains(#"tokengate_upstream_gateway_cookies_dropped_total{listener="main",route="open"} 5"#))
        let logs = gateway.logs.all.joined()
        #expect(logs.contains("dropped Set-Cookie fields for the gateway's own cookies"))
        #expect(!logs.contains("planted-value"), "the log never holds a cookie's value")
        await setup.stop()
        await app.stop()
    }

    @Test("with access tokens shorter than the refresh grace, pass_access_token never hands the app an expired token, and no refresh token is spent twice")
    func passAccessTokenNeverExpired() async throws {
        var configuration = SandboxAuthorizationServer.Configuration.demo
        configuration.accessTokenLifetime = .seconds(1)
        let idp = try await startSandbox(configuration)
        let setup = try await LoginSetup.start(profileExtras: #", "pass_access_token": true"#, idp: idp)
        let refreshes = { idp.requests(.token).filter { $0.formValue("grant_type") == "refresh_token" } }
        let browser = CookieBrowser()
        _ = try await setup.logIn(browser)
        let straggler = try #require(Self.sessionCookie(browser, at: setup.origin))

        // A one-second token is due at once: the first page refreshes it.
        let first = try await browser.request(setup.base + "/page").response
        let refreshedAt = WallClock.secondsSinceEpoch()
        let firstToken = try #require(EchoReport(first)?.header("x-auth-access-token"))
        #expect(firstToken == idp.issuedAccessTokens.last)
        #expect(refreshes().count == 1)
        let expired = Set(idp.issuedAccessTokens)
        // The provider's clock is real: wait (bounded) until that token is past its expiry.
        #expect(await eventually(within: .seconds(5)) { WallClock.secondsSinceEpoch() >= refreshedAt + 1 })

        // The new cookie, well within the 30 s grace: refreshed again, not answered with the
        // expired token of the refresh that made it.
        let second = try await browser.request(setup.base + "/page").response
        #expect(second.status == 200)
        let secondToken = try #require(EchoReport(second)?.header("x-auth-access-token"))
        #expect(secondToken != firstToken, "the token the app got expired")
        #expect(secondToken == idp.issuedAccessTokens.last)
        #expect(refreshes().count == 2)

        // The oldest cookie (its refresh token spent twice over) gets a live token too, and
        // the session goes on.
        let late = CookieBrowser()
        late.setCookie(straggler.name, straggler.value, at: setup.origin)
        let stale = try await late.request(setup.base + "/page").response
        #expect(stale.status == 200)
        let staleToken = try #require(EchoReport(stale)?.header("x-auth-access-token"))
        #expect(!expired.contains(staleToken) && idp.issuedAccessTokens.contains(staleToken))
        let spent = refreshes().compactMap { $0.formValue("refresh_token") }
        #expect(Set(spent).count == spent.count, "no refresh token was sent twice")
        #expect(try await browser.request(setup.base + "/page").response.status == 200)
        let metrics = try await setup.gateway.admin("/metrics")
        #expect(!metrics.bodyText.contains(#"outcome="refused""#))
        await setup.stop()
    }
}
