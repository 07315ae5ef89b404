/// Where the gateway may send a browser after login or logout: a path on this site, or an
/// absolute URL on an origin the profile allows. Everything else is refused, so the
/// gateway is never an open redirect (oauth2-proxy GHSA-qqxw-m5fj-f7gv, GHSA-j7px-6hwj-hpjg,
/// GHSA-4mf2-f3wh-gvf2; mod_auth_openidc CVE-2022-23527 were all parser disagreements about
/// what a "local" URL is).
///
/// The rule is deliberately narrower than what browsers accept: a local target is `/`
/// followed by anything but `/` or `\`, with no control character, whitespace or backslash
/// anywhere, raw or percent-encoded, and it must still be local after percent-decoding
/// once. An absolute target must be `https://` or `http://` exactly, with no user info,
/// and its origin (scheme, host, port) must equal an allowed one.
enum RedirectTarget {
    /// The target to use, or nil when `raw` is not one the gateway will follow.
    /// `allowedOrigins` are normalised (`normalizedOrigin`).
    static func validate(_ raw: String, allowedOrigins: [String]) -> String? {
        guard !raw.isEmpty, raw.utf8.count <= 2048, isSafeBytes(raw) else { return nil }
        let bytes = Array(raw.utf8)
        if bytes[0] == UInt8(ascii: "/") {
            guard isLocalPath(bytes), let decoded = percentDecoded(bytes), isLocalPath(decoded), isSafeDecoded(decoded) else { return nil }
            return raw
        }
        guard let origin = origin(of: raw), allowedOrigins.contains(origin) else { return nil }
        return raw
    }

    /// `/x…` but never `//…` or `/\…` (both mean another host to a browser).
    private static func isLocalPath(_ bytes: [UInt8]) -> Bool {
        guard bytes.first == UInt8(ascii: "/") else { return false }
        guard bytes.count > 1 else { return true }
        return bytes[1] != UInt8(ascii: "/") && bytes[1] != UInt8(ascii: "\\")
    }

    /// Visible ASCII only: no controls, spaces, backslashes or non-ASCII bytes (which some
    /// parsers fold into `/` or drop).
    private static func isSafeBytes(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }
    }

    /// After one percent-decoding: still no controls, spaces or backslashes.
    private static func isSafeDecoded(_ bytes: [UInt8]) -> Bool {
        bytes.allSatisfy { $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "\\") }
    }

    /// One percent-decoding of `bytes`; nil when an escape is broken.
    static func percentDecoded(_ bytes: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hexDigitValue(bytes[index + 1]), let low = hexDigitValue(bytes[index + 2]) else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }

    /// `scheme://host[:port]`, lower-cased, of an absolute http(s) URL without user info;
    /// nil for anything else.
    static func origin(of url: String) -> String? {
        let lower = url.lowercased()
        let scheme: String
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
        let rest = lower.dropFirst(scheme.count + 3)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@"), !authority.contains("%") else { return nil }
        let afterAuthority = rest.dropFirst(authority.count)
        if afterAuthority.hasPrefix("//") { return nil }
        var host = Substring(authority)
        var port = scheme == "https" ? 443 : 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else { return nil }
            port = number
            host = authority[..<colon]
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "[" || $0 == "]" || $0 == ":" }),
              host.allSatisfy(\.isASCII)
        else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        return port == defaultPort ? "\(scheme)://\(host)" : "\(scheme)://\(host):\(port)"
    }

    /// An allowed-origin setting (`scheme://host[:port]`, one trailing `/` allowed) as
    /// `origin(of:)` writes origins; nil when it has a path, query or user info.
    static func normalizedOrigin(_ setting: String) -> String? {
        var text = setting
        if text.hasSuffix("/") { text.removeLast() }
        let afterScheme = text.lowercased().hasPrefix("https://") ? text.dropFirst(8) : text.dropFirst(7)
        guard let origin = origin(of: text), !afterScheme.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" }) else { return nil }
        return origin
    }
}
