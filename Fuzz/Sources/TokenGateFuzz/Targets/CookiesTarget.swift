@testable import TokenGate

/// Cookies: `Cookie` values read and stripped (`LoginCookies.read`, `Names.strip`,
/// `Names.isOwn`), sealed values opened (`CookieSealer.open`, the session lookup), and the
/// sealed plaintexts parsed (`LoginSession.decode`, `LoginAttempt.decode`). The input is
/// lines, each one `Cookie` value; the same lines are the strings of a session and of a
/// login attempt that are sealed and opened again.
///
/// Invariants: a stripped `Cookie` holds none of the gateway's cookies and strips to
/// itself; a decoded session or attempt encodes and decodes to itself; a session the
/// profile seals comes back from its cookies equal, its `Set-Cookie` fields are the
/// gateway's own and valid header values; a changed character or another cookie's name
/// never opens.
enum CookiesTarget {
    static func run(_ bytes: [UInt8]) {
        let profile = Fixture.shared.login
        let names = LoginCookies.Names()
        let lines = textLines(bytes)

        for line in lines {
            _ = names.isOwn(setCookie: line)
            if let kept = names.strip(line) {
                for pair in kept.split(separator: ";") {
                    let name = pair.trimmingASCIISpaces()
                    invariant(!LoginCookies.Names.prefixes.contains { name.hasPrefix($0) }, "a stripped Cookie still holds one of the gateway's cookies")
                }
                invariant(names.strip(kept) == kept, "a stripped Cookie strips again to something else")
            } else {
                invariant(line.contains("tg-"), "a Cookie without the gateway's cookies was stripped to nothing")
            }
        }
        let found = profile.cookies.read(lines)
        for (name, value) in found {
            invariant(name.hasPrefix(profile.cookies.ownPrefix), "a cookie read as the profile's does not have its prefix")
            if let plaintext = profile.sealer.open(value, cookieName: name) {
                _ = LoginSession.decode(plaintext)
                _ = LoginAttempt.decode(plaintext)
            }
        }
        _ = profile.session(in: found, now: Fixture.now)

        // The plaintext parsers on the raw input, and their round trips.
        if let session = LoginSession.decode(bytes) {
            invariant(LoginSession.decode(session.encoded()) == session, "a decoded session encodes to another")
        }
        if let attempt = LoginAttempt.decode(bytes) {
            invariant(LoginAttempt.decode(attempt.encoded()) == attempt, "a decoded login attempt encodes to another")
        }
        _ = LoginSession.reference(bytes)

        sealedSession(lines, profile: profile, names: names, input: bytes)
        sealedAttempt(lines, profile: profile)
    }

    /// A session made of the input's strings, sealed into cookies and read back.
    static func sealedSession(_ lines: [String], profile: LoginProfile, names: LoginCookies.Names, input: [UInt8]) {
        let now = Fixture.now
        var claims: [String: String] = [:]
        for (position, line) in lines.prefix(8).enumerated() { claims["claim\(position)"] = line }
        let session = LoginSession(
            id: "fuzz-session", subject: lines.first ?? "", providerSessionID: lines.count > 1 ? lines[1] : nil,
            loginAt: now * 1000, seenAt: now, expiresAt: now + 3600, claims: claims,
            accessToken: lines.count > 2 ? lines[2] : nil, accessTokenExpiresAt: now + 300, refreshToken: lines.count > 3 ? lines[3] : nil,
            idToken: nil
        )
        invariant(LoginSession.decode(session.encoded()) == session, "a session does not decode to itself")
        guard let fields = profile.sessionCookies(session, present: [], now: now) else { return }
        var jar: [(name: String, value: String)] = []
        for field in fields {
            invariant(field.name == "Set-Cookie" && names.isOwn(setCookie: field.value), "a session Set-Cookie is not one of the gateway's cookies")
            invariant(InboundPolicy.isHeaderSafe(field.value), "a session Set-Cookie is not a valid header value")
            let pair = field.value.prefix { $0 != ";" }
            guard let equals = pair.firstIndex(of: "=") else {
                invariant(false, "a session Set-Cookie has no name=value")
                return
            }
            jar.append((String(pair[..<equals]), String(pair[pair.index(after: equals)...])))
        }
        let header = jar.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
        invariant(names.strip(header) == nil, "the gateway's session cookies are not all stripped")
        invariant(profile.session(in: profile.cookies.read([header]), now: now) == session, "a sealed session does not open to itself")

        // One character changed, anywhere in the first cookie: it must not open.
        guard let first = jar.first, !first.value.isEmpty else { return }
        var changed = Array(first.value.utf8)
        let position = pick(input, changed.count)
        changed[position] = changed[position] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        var forged = jar
        forged[0].value = String(decoding: changed, as: UTF8.self)
        let forgedHeader = forged.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
        invariant(profile.session(in: profile.cookies.read([forgedHeader]), now: now) == nil, "a session cookie with a changed character opens")
        if jar.count == 1 {
            invariant(profile.sealer.open(first.value, cookieName: profile.cookies.statePrefix + "0000000000000000") == nil,
                      "a session value opens as a state cookie")
        }
    }

    /// A login attempt made of the input's strings, sealed into its state cookie.
    static func sealedAttempt(_ lines: [String], profile: LoginProfile) {
        func line(_ index: Int) -> String { index < lines.count ? lines[index] : "" }
        let attempt = LoginAttempt(
            state: line(0), nonce: line(1), verifier: line(2),
            returnTo: LoginAttempt.returnTarget(line(3), allowedOrigins: profile.config.allowedRedirectOrigins),
            redirectURI: "https://app.example.com/portal/.tokengate/callback", createdAt: Fixture.now
        )
        invariant(LoginAttempt.decode(attempt.encoded()) == attempt, "a login attempt does not decode to itself")
        let name = profile.cookies.stateCookie(for: attempt.state)
        guard let sealed = profile.sealer.seal(attempt.encoded(), cookieName: name) else { return }
        invariant(profile.sealer.open(sealed, cookieName: name).flatMap(LoginAttempt.decode) == attempt, "a sealed login attempt does not open to itself")
        invariant(profile.sealer.open(sealed, cookieName: profile.cookies.session) == nil, "a state cookie's value opens as the session")
    }
}
