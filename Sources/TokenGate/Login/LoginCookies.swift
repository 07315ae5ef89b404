import Crypto
import ExtrasBase64

/// TokenGate's own cookies on a login route: their names, reading them from `Cookie`,
/// writing `Set-Cookie`, splitting a large session over a few cookies, and keeping them
/// from the app.
///
/// On https (or with no `external_url` behind a proxy saying https) the names carry the
/// `__Host-` prefix, which browsers accept only with `Secure`, `Path=/` and no `Domain`:
/// no subdomain can plant or overwrite them. Plain-http loopback development drops the
/// prefix and `Secure` (`tokengate check` warns).
///
/// Each name carries the profile's `CookieScope.tag` (`__Host-tg-1a2b3c4d-session`), so two
/// login profiles on one host keep apart: each reads, writes and deletes only its own.
/// (Names before the tag, `__Host-tg-session`, are no longer read: sessions made before
/// an upgrade that added it log in again, and `legacyDeletions` deletes those cookies.)
struct LoginCookies: Sendable {
    let secure: Bool
    /// The profile's `CookieScope.tag`.
    let tag: String

    init(secure: Bool, scope: CookieScope) {
        self.secure = secure
        self.tag = scope.tag
    }

    /// Every cookie of this profile's starts with this.
    var ownPrefix: String { (secure ? Names.securePrefix : Names.plainPrefix) + tag + "-" }
    /// The session's first cookie; further parts are `NAME.1`, `NAME.2`, `NAME.3`.
    var session: String { ownPrefix + "session" }
    /// State cookies are `PREFIX` + 16 hex digits of the SHA-256 of their `state`.
    var statePrefix: String { ownPrefix + "state-" }

    /// A session is split into at most this many cookies of at most `chunkBytes` each
    /// (browsers keep 4096 bytes per cookie, name and attributes included).
    static let maxChunks = 4
    static let chunkBytes = 3800
    /// The most login attempts (state cookies) a browser holds at once; the oldest go.
    static let maxAttempts = 5

    func stateCookie(for state: String) -> String {
        statePrefix + Self.hex(SHA256.hash(data: Array(state.utf8)).prefix(8))
    }

    /// Lower-case hex digits of `bytes`.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    /// The name of the session's `index`th part.
    func sessionPart(_ index: Int) -> String { index == 0 ? session : "\(session).\(index)" }

    /// `Set-Cookie` for a value: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` on https.
    /// `maxAge` nil is a browser-session cookie; 0 deletes.
    func setCookie(_ name: String, _ value: String, maxAge: Int?) -> (name: String, value: String) {
        var text = "\(name)=\(value); Path=/; HttpOnly; SameSite=Lax"
        if secure { text += "; Secure" }
        if let maxAge { text += "; Max-Age=\(max(0, maxAge))" }
        return ("Set-Cookie", text)
    }

    func delete(_ name: String) -> (name: String, value: String) { setCookie(name, "", maxAge: 0) }

    /// `Set-Cookie`s for a sealed session split into parts, deleting parts a longer
    /// session used before (`present`: the part names the request carried). Nil when the
    /// value needs more than `maxChunks` cookies.
    func setSession(_ sealed: String, maxAge: Int, present: Set<String>) -> [(name: String, value: String)]? {
        let bytes = Array(sealed.utf8)
        let count = max(1, (bytes.count + Self.chunkBytes - 1) / Self.chunkBytes)
        guard count <= Self.maxChunks else { return nil }
        var fields: [(name: String, value: String)] = []
        for index in 0..<count {
            let part = bytes[(index * Self.chunkBytes)..<min(bytes.count, (index + 1) * Self.chunkBytes)]
            fields.append(setCookie(sessionPart(index), String(decoding: part, as: UTF8.self), maxAge: maxAge))
        }
        for index in count..<Self.maxChunks where present.contains(sessionPart(index)) { fields.append(delete(sessionPart(index))) }
        return fields
    }

    /// Deletes every session part and every state cookie of this profile the request carried.
    func deleteAll(present: Set<String>) -> [(name: String, value: String)] {
        present.sorted().map(delete)
    }

    /// The most cookies of the names before the tag a browser can hold (a session's parts
    /// and `maxAttempts` state cookies, under either prefix): the most deleted at once.
    static let maxLegacy = 2 * (maxChunks + maxAttempts)

    /// `Set-Cookie` deletions (`Max-Age=0`) for the cookies of a version before names
    /// carried the profile's tag (`__Host-tg-session`, `tg-session`, their parts `.1`…`.3`,
    /// `__Host-tg-state-` and `tg-state-` and 16 hex digits) in `Cookie` values. No longer
    /// read, they would otherwise stay until their `Max-Age` beside the new ones and push
    /// `Cookie` past the 8 KB front proxies take. Each is deleted with the attributes it was
    /// set with (`Path=/`, `HttpOnly`, `SameSite=Lax`, no `Domain`), `Secure` for a
    /// `__Host-` name (browsers take none without it) or on https. Cheap when there are none:
    /// one substring search per `Cookie` field.
    func legacyDeletions(_ cookieHeaders: [String]) -> [(name: String, value: String)] {
        var names: [String] = []
        for header in cookieHeaders where header.contains("tg-session") || header.contains("tg-state-") {
            for pair in header.split(separator: ";") where names.count < Self.maxLegacy {
                let name = pair.trimmingASCIISpaces().prefix { $0 != "=" }
                guard Self.isLegacy(name), !names.contains(where: { $0 == name }) else { continue }
                names.append(String(name))
            }
        }
        return names.map { name -> (name: String, value: String) in
            var text = "\(name)=; Path=/; HttpOnly; SameSite=Lax"
            if secure || name.hasPrefix(Names.securePrefix) { text += "; Secure" }
            return ("Set-Cookie", text + "; Max-Age=0")
        }
    }

    /// Whether `name` is one the gateway set before names carried the profile's tag.
    static func isLegacy(_ name: Substring) -> Bool {
        let rest: Substring
        if name.hasPrefix(Names.securePrefix) {
            rest = name.dropFirst(Names.securePrefix.count)
        } else if name.hasPrefix(Names.plainPrefix) {
            rest = name.dropFirst(Names.plainPrefix.count)
        } else {
            return false
        }
        if rest == "session" || (1..<maxChunks).contains(where: { rest == "session.\($0)" }) { return true }
        guard rest.hasPrefix("state-") else { return false }
        let digits = rest.utf8.dropFirst("state-".count)
        return digits.count == 16 && digits.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
    }

    /// This profile's cookies in `Cookie` values, by name (the first of a repeated name).
    func read(_ cookieHeaders: [String]) -> [String: String] {
        var found: [String: String] = [:]
        for header in cookieHeaders {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingASCIISpaces()
                guard trimmed.hasPrefix(ownPrefix), let equals = trimmed.firstIndex(of: "=") else { continue }
                let name = String(trimmed[..<equals])
                if found[name] == nil { found[name] = String(trimmed[trimmed.index(after: equals)...]) }
            }
        }
        return found
    }

    /// The session's sealed value from its parts (nil when there is none, or a part is
    /// missing: a truncated session is no session).
    func sessionValue(_ cookies: [String: String]) -> String? {
        guard let first = cookies[session] else { return nil }
        var value = first
        for index in 1..<Self.maxChunks {
            guard let part = cookies[sessionPart(index)] else { break }
            value += part
        }
        return value
    }

    /// The names of the gateway's cookies, whatever the profile: `__Host-tg-…` and
    /// `tg-…`, and `__Secure-tg-…`, which the gateway never sets but reserves, so that no
    /// app cookie passes for one of its own under any prefix. Once any login profile
    /// exists they are stripped from `Cookie` on every route, and no upstream may set them.
    struct Names: Sendable {
        static let securePrefix = "__Host-tg-"
        static let plainPrefix = "tg-"
        static let prefixes = [securePrefix, "__Secure-tg-", plainPrefix]

        /// Whether an upstream's `Set-Cookie` value would set one of the gateway's cookies:
        /// an app (or a header-injection bug in one) must not plant or overwrite a session
        /// or a login attempt. Looks at what a browser sends back: the cookie's name or, for a
        /// nameless cookie (`=tg-session=x`, RFC 6265bis §5.6), its value, which comes back
        /// as `tg-session=x`. Case-sensitive, as browsers compare names. Only fields that
        /// mention `tg-` at all are looked at closely.
        func isOwn(setCookie value: String) -> Bool {
            guard value.contains("tg-") else { return false }
            var pair = value.prefix(while: { $0 != ";" }).trimmingASCIISpaces()
            if pair.first == "=" { pair = pair.dropFirst().trimmingASCIISpaces() }
            return Self.prefixes.contains { pair.hasPrefix($0) }
        }

        /// A `Cookie` value without the gateway's cookies (nil when nothing is left).
        func strip(_ header: String) -> String? {
            guard header.contains("tg-") else { return header }
            let kept = header.split(separator: ";").filter { pair in
                let name = pair.trimmingASCIISpaces()
                return !Self.prefixes.contains { name.hasPrefix($0) }
            }.map { String($0.trimmingASCIISpaces()) }
            return kept.isEmpty ? nil : kept.joined(separator: "; ")
        }
    }

    /// 32 random bytes, base64url: state, nonce, PKCE verifier, session ids.
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }

    /// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
    static func challenge(_ verifier: String) -> String {
        Base64.encodeToString(bytes: Array(SHA256.hash(data: Array(verifier.utf8))), options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }
}
