@testable import TokenGate

/// Where the gateway sends a browser: `RedirectTarget.validate` (after login and logout),
/// `origin(of:)`, `normalizedOrigin` (the `allowed_redirect_origins` setting), the login
/// attempt's return target and the RP-initiated logout location. The input is lines: the
/// first is the target; each other line is an allowed-origin setting (added when it
/// normalises), next to the fixture's `https://app.example.com` and `http://localhost:8080`.
///
/// Invariants: a target is followed as it is or not at all; a local one starts with one
/// `/` (never `//` or `/\`), holds only visible ASCII without `\`, and after one
/// percent-decoding still starts with one `/` and holds no control, space or `\`; an
/// absolute one is http(s) without user info on an allowed origin; a return target is
/// `/` or a followed target of at most 512 bytes; a logout location is visible ASCII.
enum RedirectLocationTarget {
    static func run(_ bytes: [UInt8]) {
        let lines = textLines(bytes)
        let raw = lines.first ?? ""
        var allowed = Fixture.shared.login.config.allowedRedirectOrigins
        for line in lines.dropFirst().prefix(8) {
            if let origin = RedirectTarget.normalizedOrigin(line) {
                invariant(origin.hasPrefix("https://") || origin.hasPrefix("http://"), "a normalised origin is not http(s)")
                invariant(!origin.dropFirst(8).contains("/") && !origin.contains("@"), "a normalised origin has a path or user info")
                allowed.append(origin)
            }
        }

        if let target = RedirectTarget.validate(raw, allowedOrigins: allowed) {
            invariant(target == raw, "a redirect target is changed rather than followed or refused")
            let utf8 = Array(target.utf8)
            invariant(utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }, "a followed target holds a control, space, backslash or non-ASCII byte")
            if utf8.first == UInt8(ascii: "/") {
                invariant(utf8.count == 1 || (utf8[1] != UInt8(ascii: "/") && utf8[1] != UInt8(ascii: "\\")), "a local target starts with // or /\\")
                guard let decoded = RedirectTarget.percentDecoded(utf8) else {
                    invariant(false, "a followed local target has a broken escape")
                    return
                }
                invariant(decoded.count == 1 || (decoded[1] != UInt8(ascii: "/") && decoded[1] != UInt8(ascii: "\\")), "a local target decodes to // or /\\")
                invariant(decoded.allSatisfy { $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "\\") }, "a local target decodes to a control, space or backslash")
            } else {
                let lower = target.lowercased()
                invariant(lower.hasPrefix("https://") || lower.hasPrefix("http://"), "an absolute target is not http(s)")
                let authority = lower.drop { $0 != "/" }.dropFirst(2).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
                invariant(!authority.contains("@"), "an absolute target carries user info")
                invariant(RedirectTarget.origin(of: target).map { allowed.contains($0) } == true, "an absolute target is not on an allowed origin")
            }
        }

        let returnTo = LoginAttempt.returnTarget(raw, allowedOrigins: allowed)
        invariant(returnTo == "/" || (returnTo.utf8.count <= LoginAttempt.maxReturnTo && RedirectTarget.validate(returnTo, allowedOrigins: allowed) == returnTo),
                  "a return target is neither / nor a followed target within the limit")

        let profile = Fixture.shared.login
        if let endpoint = profile.endSessionEndpoint {
            let location = profile.endSessionLocation(endpoint, idToken: raw, postLogout: lines.count > 1 ? lines[1] : "/", state: "fuzz-state")
            invariant(location.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "a logout location is not visible ASCII")
        }
        _ = LoginRequest.isCrossSite(fetchSite: nil, origin: raw, base: "https://app.example.com")
    }
}
