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

    private static func sealer(_ keys: [(String, String)]) -> CookieSealer {
        CookieSealer(secrets: keys.map { (id: $0.0, secret: Array($0.1.utf8)) })
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
}
