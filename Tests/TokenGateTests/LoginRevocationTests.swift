import Foundation
import Testing
@testable import TokenGate

@Suite("Login revocations: ended sessions and logout tokens kept by time, not by count; RP-initiated logout")
struct LoginRevocationTests {
    /// A login profile (public client, end-session endpoint configured) with small lists
    /// (and, with `maxJobs`, a small queue of work for the provider).
    static func profile(revocationCapacity: Int, maxJobs: Int = LoginJobQueue.defaultCapacity) throws -> LoginProfile {
        let json = """
        { "listeners": { "main": { "address": "127.0.0.1:8080" } },
          "login": { "portal": { "issuer": "https://idp.example.com", "client_id": "legacy-portal",
                                 "cookie_keys": [ { "id": "k1", "secret": { "env": "KEY" } } ],
                                 "end_session_endpoint": "https://idp.example.com/logout" } },
          "routes": [ { "name": "app", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:3000", "login": "portal" } ] }
        """
        let environment = ["KEY": "0123456789abcdef0123456789abcdef-key"]
        let config = try #require(try loadConfig(json, environment: environment).get().config.login.first)
        return LoginProfile(config, resolver: SecretResolver(environment: environment), metrics: GatewayMetrics(), revocationCapacity: revocationCapacity, maxJobs: maxJobs)
    }

    static func session(_ subject: String, now: Int, loginAt: Int, sid: String? = nil) -> LoginSession {
        LoginSession(
            id: LoginCookies.random(), subject: subject, providerSessionID: sid, loginAt: loginAt, seenAt: now, expiresAt: now + 3600,
            claims: [:], accessToken: nil, accessTokenExpiresAt: nil, refreshToken: nil, idToken: nil
        )
    }

    /// The cookies a browser keeps from `Set-Cookie` fields, by name.
    static func jar(_ fields: [(name: String, value: String)]?) throws -> [String: String] {
        var jar: [String: String] = [:]
        for field in try #require(fields) {
            let pair = field.value.prefix { $0 != ";" }
            let equals = try #require(pair.firstIndex(of: "="))
            jar[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return jar
    }

    @Test("entries leave when their time is over, never to make room; a full list records nothing and says so")
    func entriesLeaveByTime() {
        var list = RevocationList<Bool>(capacity: 4)
        #expect(list.insert(true, for: "first", until: 1_000, now: 0) == .added)
        for id in ["b", "c", "d"] { #expect(list.insert(true, for: id, until: 5_000, now: 10) == .added) }
        #expect(list.insert(true, for: "e", until: 5_000, now: 20) == .full)
        #expect(list.value(for: "first", now: 999) == true, "a full list forgets nothing")
        #expect(list.value(for: "e", now: 20) == nil)
        #expect(list.insert(true, for: "first", until: 2_000, now: 30) == .present)
        #expect(list.value(for: "first", now: 1_500) == true, "the later time wins")
        #expect(list.value(for: "first", now: 2_000) == nil, "over at its time")
        #expect(list.insert(true, for: "e", until: 9_000, now: 2_100) == .added, "the sweep made room")
        #expect(list.count == 4)
        // A long pause (or a clock jump) sweeps everything that is over.
        #expect(list.insert(true, for: "f", until: 400_000_000, now: 300_000_000) == .added)
        #expect(list.count == 1)
    }

    @Test("more other logouts than the list holds never bring a logged-out cookie back: the overflow ends every older session instead")
    func logoutsBeyondTheCap() throws {
        let profile = try Self.profile(revocationCapacity: 8)
        let now = WallClock.secondsSinceEpoch()
        let before = WallClock.millisecondsSinceEpoch() - 1000
        let leaving = Self.session("leaving", now: now, loginAt: before)
        let copy = try Self.jar(profile.sessionCookies(leaving, present: [], now: now))
        let staying = Self.session("staying", now: now, loginAt: before)
        let stayingCookies = try Self.jar(profile.sessionCookies(staying, present: [], now: now))
        #expect(profile.session(in: copy, now: now) == leaving)
        profile.end(leaving, now: now)
        #expect(profile.session(in: copy, now: now) == nil)
        // Up to the cap, other logouts change nothing for anyone else.
        for index in 0..<7 { profile.end(Self.session("other-\(index)", now: now, loginAt: before), now: now) }
        #expect(profile.session(in: copy, now: now) == nil)
        #expect(profile.session(in: stayingCookies, now: now) == staying)
        #expect(profile.revocationOverflows == 0)
        // Past it (an LRU of this size would now have forgotten `leaving`): still logged
        // out, and so is every session from before the overflow.
        for index in 7..<30 { profile.end(Self.session("other-\(index)", now: now, loginAt: before), now: now) }
        #expect(profile.session(in: copy, now: now) == nil, "the logged-out copy stays logged out")
        #expect(profile.session(in: stayingCookies, now: now) == nil, "fails safe: sessions from before the overflow log in again")
        #expect(profile.revocationOverflows >= 1)
        let later = Self.session("later", now: now, loginAt: WallClock.millisecondsSinceEpoch() + 1000)
        let laterCookies = try Self.jar(profile.sessionCookies(later, present: [], now: now))
        #expect(profile.session(in: laterCookies, now: now) == later, "logins after it work")
    }

    @Test("back-channel logouts past the cap end every older session rather than forget one")
    func providerLogoutsBeyondTheCap() {
        var revocations = LoginRevocations(capacity: 2)
        let loggedOut = Self.session("alice", now: 1_000, loginAt: 500_000, sid: "sid-alice")
        revocations.endByProvider(sid: "sid-alice", subject: nil, at: 600_000, until: 5_000, now: 1_000)
        #expect(revocations.isEnded(loggedOut, now: 1_000))
        for index in 0..<5 { revocations.endByProvider(sid: "sid-\(index)", subject: nil, at: 700_000, until: 5_000, now: 1_000) }
        #expect(revocations.isEnded(loggedOut, now: 1_000), "still ended")
        #expect(revocations.isEnded(Self.session("bob", now: 1_000, loginAt: 650_000), now: 1_000), "older sessions end with the overflow")
        #expect(!revocations.isEnded(Self.session("carol", now: 1_000, loginAt: 800_000), now: 1_000))
    }

    @Test("a full list of logout tokens still lets new ones end their sessions, and keeps recognising the ones it holds")
    func logoutTokensWhenFull() {
        var revocations = LoginRevocations(capacity: 3)
        let remembered1 = revocations.rememberLogoutToken("first", until: 500, now: 0)
        #expect(remembered1)
        for index in 0..<10 {
            let remembered2 = revocations.rememberLogoutToken("other-\(index)", until: 500, now: 1)
            #expect(remembered2, "a logout is never refused for want of room")
        }
        let remembered3 = revocations.rememberLogoutToken("first", until: 500, now: 2)
        #expect(!remembered3, "a replay is still recognised")
        let remembered4 = revocations.rememberLogoutToken("other-0", until: 500, now: 2)
        #expect(!remembered4)
        let remembered5 = revocations.rememberLogoutToken("first", until: 900, now: 501)
        #expect(remembered5, "forgotten once its time is over")
    }

    @Test("RP-initiated logout sends a fresh state with the ID token hint, the return URI and the client id")
    func endSessionSendsState() throws {
        let profile = try Self.profile(revocationCapacity: 8)
        let endpoint = try UpstreamURL.parse("https://idp.example.com/logout").get()
        let location = profile.endSessionLocation(endpoint, idToken: "header.payload.signature", postLogout: "https://portal.example.com/bye")
        #expect(location.hasPrefix("https://idp.example.com/logout?"))
        let items = try #require(URLComponents(string: location)?.queryItems)
        let fields = Dictionary(uniqueKeysWithValues: items.map { ($0.name, $0.value ?? "") })
        #expect(fields["id_token_hint"] == "header.payload.signature")
        #expect(fields["post_logout_redirect_uri"] == "https://portal.example.com/bye")
        #expect(fields["client_id"] == "legacy-portal")
        let state = try #require(fields["state"])
        #expect(state.count >= 43)
        let again = profile.endSessionLocation(endpoint, idToken: "header.payload.signature", postLogout: "https://portal.example.com/bye")
        #expect(!again.contains(state), "a new state every time")
    }
}
