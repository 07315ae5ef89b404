import Testing
@testable import TokenGate

@Suite("Browser login: return URLs, sealed cookies, login profiles")
struct LoginFoundationTests {
    static let allowed = ["https://app.example.com", "http://127.0.0.1:8080"]

    /// Targets that must never be followed: each one leaves the site to a browser, smuggles
    /// a header, or runs script.
    static let openRedirects: [String] = [
        "//evil.com", "//evil.com/", "///evil.com", "////evil.com", "/\\evil.com", "/\\/evil.com", "\\\\evil.com", "\\/evil.com",
        "/%09/evil.com", "/%2F/evil.com", "/%2f%2fevil.com", "/%5Cevil.com", "/%5c%5cevil.com", "%2F%2Fevil.com", "/%2F%2Fevil.com",
        "https:evil.com", "http:evil.com", "https:/evil.com", "https:\\\\evil.com", "https:///evil.com", "https://evil.com",
        "http://evil.com", "HTTPS://EVIL.COM", "//evil.com@app.example.com", "https://app.example.com@evil.com",
        "https://app.example.com:443@evil.com", "https://app.example.com%40evil.com", "https://user:pass@app.example.com/",
        "https://evil.com#@app.example.com", "https://evil.com?@app.example.com", "https://evil.com\\@app.example.com",
        "https://app.example.com.evil.com/", "https://evil.com/app.example.com", "https://app.example.com:8443/",
        "http://app.example.com/", "ftp://app.example.com/", "//app.example.com/", "https://app.example.com//evil.com",
        "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox", "evil.com",
        "evil.com/path", " //evil.com", "\t//evil.com", "/\t/evil.com", "/ /evil.com", "/\n/evil.com", "/\r\n/evil.com",
        "/%0d%0aSet-Cookie:%20x=1", "/%00/evil.com", "/\u{3002}evil.com", "//evil%E3%80%82com", "https://evil\u{3002}com",
        "/%", "/%zz", "", "https://[::1]@evil.com/", "https://127.0.0.1:8080@evil.com/", "http://127.0.0.1:8081/",
    ]

    @Test("an open-redirect corpus never leaves the allowed origins", arguments: openRedirects)
    func openRedirectRefused(target: String) {
        #expect(RedirectTarget.validate(target, allowedOrigins: Self.allowed) == nil, "followed \(target.debugDescription)")
    }

    @Test("paths on this site and URLs on allowed origins are followed", arguments: [
        "/", "/dashboard", "/a/b?x=1&y=%2F#frag", "/%41", "/.well-known/x", "https://app.example.com/x", "https://APP.example.com/x?y=1",
        "https://app.example.com:443/x", "https://app.example.com", "http://127.0.0.1:8080/after",
    ])
    func localAndAllowedFollowed(target: String) {
        #expect(RedirectTarget.validate(target, allowedOrigins: Self.allowed) == target)
    }

    @Test("the corpus has at least 50 cases")
    func corpusSize() { #expect(Self.openRedirects.count >= 50) }

    @Test("allowed origins are scheme and host only")
    func origins() {
        #expect(RedirectTarget.normalizedOrigin("https://App.Example.com/") == "https://app.example.com")
        #expect(RedirectTarget.normalizedOrigin("https://app.example.com:443") == "https://app.example.com")
        #expect(RedirectTarget.normalizedOrigin("https://app.example.com/path") == nil)
        #expect(RedirectTarget.normalizedOrigin("https://u@app.example.com") == nil)
        #expect(RedirectTarget.normalizedOrigin("app.example.com") == nil)
    }

    static let portal = CookieScope(profile: "portal", issuer: "https://idp.example.com")

    private static func sealer(_ keys: [(String, String)], scope: CookieScope = portal) -> CookieSealer {
        CookieSealer(secrets: keys.map { (id: $0.0, secret: Array($0.1.utf8)) }, scope: scope)
    }

    @Test("a sealed cookie opens only unchanged, for its own cookie name, with a key that sealed it")
    func sealing() throws {
        let sealer = Self.sealer([("k1", "0123456789abcdef0123456789abcdef")])
        let plaintext = Array(#"{"sid":"abc","sub":"alice"}"#.utf8)
        let sealed = try #require(sealer.seal(plaintext, cookieName: "session"))
        #expect(sealer.open(sealed, cookieName: "session") == plaintext)
        #expect(sealer.seal(plaintext, cookieName: "session") != sealed, "a fresh nonce every time")
        #expect(sealer.open(sealed, cookieName: "state-1") == nil, "another cookie's value does not open")
        var bytes = Array(sealed.utf8)
        for position in [0, 5, bytes.count / 2, bytes.count - 1] {
            let original = bytes[position]
            bytes[position] = original == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(sealer.open(String(decoding: bytes, as: UTF8.self), cookieName: "session") == nil, "changed at \(position)")
            bytes[position] = original
        }
        for cut in [1, 10, sealed.count - 1] {
            #expect(sealer.open(String(sealed.prefix(cut)), cookieName: "session") == nil, "truncated to \(cut)")
        }
        for garbage in ["", "!!!", "AAAA", String(repeating: "A", count: 5000)] {
            #expect(sealer.open(garbage, cookieName: "session") == nil)
        }
        let otherSecret = Self.sealer([("k1", "fedcba9876543210fedcba9876543210")])
        #expect(otherSecret.open(sealed, cookieName: "session") == nil, "same key id, another secret")
    }

    @Test("key rotation: a new first key seals, the old one still opens; dropping it ends its cookies")
    func rotation() throws {
        let old = Self.sealer([("2026-10", "0123456789abcdef0123456789abcdef")])
        let rotated = Self.sealer([("2026-11", "an entirely new secret of 32+ bytes!"), ("2026-10", "0123456789abcdef0123456789abcdef")])
        let sealedBefore = try #require(old.seal(Array("before".utf8), cookieName: "s"))
        #expect(rotated.open(sealedBefore, cookieName: "s") == Array("before".utf8))
        #expect(rotated.sealingKeyID == "2026-11")
        let sealedAfter = try #require(rotated.seal(Array("after".utf8), cookieName: "s"))
        #expect(old.open(sealedAfter, cookieName: "s") == nil)
        let retired = Self.sealer([("2026-11", "an entirely new secret of 32+ bytes!")])
        #expect(retired.open(sealedBefore, cookieName: "s") == nil)
        #expect(retired.open(sealedAfter, cookieName: "s") == Array("after".utf8))
    }

    @Test("with one shared key, a value one login profile sealed does not open for another profile or another issuer")
    func sealingIsPerProfile() throws {
        let key = [("k1", "0123456789abcdef0123456789abcdef")]
        let staff = CookieScope(profile: "staff", issuer: "https://login.example.com")
        let plaintext = Array(#"{"v":1,"id":"x","sub":"mallory"}"#.utf8)
        let sealed = try #require(Self.sealer(key, scope: staff).seal(plaintext, cookieName: "__Host-tg-session"))
        #expect(Self.sealer(key, scope: staff).open(sealed, cookieName: "__Host-tg-session") == plaintext)
        for other in [CookieScope(profile: "partners", issuer: "https://signup.example.net"), CookieScope(profile: "partners", issuer: staff.issuer),
                      CookieScope(profile: staff.profile, issuer: "https://signup.example.net")] {
            #expect(Self.sealer(key, scope: other).open(sealed, cookieName: "__Host-tg-session") == nil, "\(other)")
        }
        #expect(CookieScope(profile: "ab", issuer: "c").bytes != CookieScope(profile: "a", issuer: "bc").bytes, "unambiguous")
    }

    @Test("cookie names carry a short, stable tag of the profile and issuer; each profile reads only its own; the app sees none")
    func cookieNamesPerProfile() {
        let portal = LoginCookies(secure: true, scope: Self.portal)
        #expect(portal.session == "__Host-tg-e8216384-session", "the same name across versions, restarts and replicas")
        #expect(portal.stateCookie(for: "s").hasPrefix("__Host-tg-e8216384-state-"))
        #expect(LoginCookies(secure: false, scope: Self.portal).session == "tg-e8216384-session")
        let names = [Self.portal, CookieScope(profile: "staff", issuer: Self.portal.issuer), CookieScope(profile: "portal", issuer: "https://other.example.com")]
            .map { LoginCookies(secure: true, scope: $0).session }
        #expect(Set(names).count == 3)
        let staff = LoginCookies(secure: true, scope: CookieScope(profile: "staff", issuer: Self.portal.issuer))
        let header = "\(staff.session)=theirs; \(portal.session)=mine; \(portal.sessionPart(1))=more; app=1"
        #expect(portal.read([header]) == [portal.session: "mine", portal.sessionPart(1): "more"])
        #expect(staff.read([header]) == [staff.session: "theirs"])
        #expect(LoginCookies.Names().strip(header) == "app=1")
    }

    @Test("a return_to past 512 bytes (as sealed) comes back to /; five state cookies with the longest kept stay under 6 KB")
    func returnTargetsStayShort() throws {
        let longest = "/" + String(repeating: "a", count: LoginAttempt.maxReturnTo - 1)
        #expect(LoginAttempt.returnTarget(longest, allowedOrigins: []) == longest)
        #expect(LoginAttempt.returnTarget(longest + "a", allowedOrigins: []) == "/")
        #expect(LoginAttempt.returnTarget("/" + String(repeating: "a", count: 2047), allowedOrigins: []) == "/")
        let quoted = "/" + String(repeating: "\"", count: 255)
        #expect(LoginAttempt.returnTarget(quoted, allowedOrigins: []) == quoted, "511 bytes escaped")
        #expect(LoginAttempt.returnTarget(quoted + "\"", allowedOrigins: []) == "/", "a quote is two bytes sealed")
        #expect(LoginAttempt.returnTarget("//evil.com", allowedOrigins: []) == "/")
        #expect(LoginAttempt.returnTarget("https://app.example.com/x", allowedOrigins: Self.allowed) == "https://app.example.com/x")

        let cookies = LoginCookies(secure: true, scope: Self.portal)
        let sealer = Self.sealer([("2026-11", "0123456789abcdef0123456789abcdef")])
        for target in [longest, quoted + "a"] {
            var header: [String] = []
            for _ in 0..<LoginCookies.maxAttempts {
                let attempt = LoginAttempt(
                    state: LoginCookies.random(), nonce: LoginCookies.random(), verifier: LoginCookies.random(),
                    returnTo: LoginAttempt.returnTarget(target, allowedOrigins: []), redirectURI: "https://portal.example.com/.tokengate/callback",
                    createdAt: 1_800_000_000
                )
                #expect(attempt.returnTo == target)
                let name = cookies.stateCookie(for: attempt.state)
                let sealed = try #require(sealer.seal(attempt.encoded(), cookieName: name))
                header.append(name + "=" + sealed)
            }
            #expect(header.joined(separator: "; ").utf8.count < 6 * 1024, "well under the 8 KB front proxies accept")
        }
    }
}
