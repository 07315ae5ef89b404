/// A logged-in browser's session, as sealed into its cookies (or kept in the memory store).
/// Times are seconds since the epoch, but `loginAt`.
struct LoginSession: Sendable, Equatable {
    /// Random, new at every login (no fixation); what logout and the ended-session list use.
    var id: String
    var subject: String
    /// The provider's session id (`sid` of the ID token), for back-channel logout.
    var providerSessionID: String?
    /// When the login happened, in milliseconds (ordered against back-channel logouts).
    var loginAt: Int
    var seenAt: Int
    /// The absolute end: the login + `session.absolute_timeout_seconds`.
    var expiresAt: Int
    /// The ID token's claims that identity headers may use, as strings.
    var claims: [String: String]
    var accessToken: String?
    var accessTokenExpiresAt: Int?
    var refreshToken: String?
    /// For `id_token_hint` at RP-initiated logout.
    var idToken: String?

    func encoded() -> [UInt8] {
        var json = "{\"v\":1,\"id\":\(JSONText.quote(id)),\"sub\":\(JSONText.quote(subject)),\"login\":\(loginAt),\"seen\":\(seenAt),\"exp\":\(expiresAt)"
        if let providerSessionID { json += ",\"sid\":\(JSONText.quote(providerSessionID))" }
        json += ",\"claims\":{" + claims.sorted { $0.key < $1.key }.map { "\(JSONText.quote($0.key)):\(JSONText.quote($0.value))" }.joined(separator: ",") + "}"
        if let accessToken { json += ",\"at\":\(JSONText.quote(accessToken))" }
        if let accessTokenExpiresAt { json += ",\"ate\":\(accessTokenExpiresAt)" }
        if let refreshToken { json += ",\"rt\":\(JSONText.quote(refreshToken))" }
        if let idToken { json += ",\"idt\":\(JSONText.quote(idToken))" }
        return Array((json + "}").utf8)
    }

    /// What a memory-store session's cookie seals: its id only.
    static func referenceBytes(_ id: String) -> [UInt8] { Array("{\"v\":1,\"ref\":\(JSONText.quote(id))}".utf8) }

    static func reference(_ bytes: [UInt8]) -> String? {
        guard let document = try? JSONParser.parse(bytes), case .object(let members) = document,
              case .string(let id)? = members.first(where: { $0.key == "ref" })?.value
        else { return nil }
        return id
    }

    static func decode(_ bytes: [UInt8]) -> LoginSession? {
        guard let document = try? JSONParser.parse(bytes), case .object(let members) = document else { return nil }
        func string(_ key: String) -> String? {
            if case .string(let value)? = members.first(where: { $0.key == key })?.value { return value }
            return nil
        }
        func integer(_ key: String) -> Int? {
            if case .number(let value)? = members.first(where: { $0.key == key })?.value, value.isFinite, abs(value) < 1e15 { return Int(value) }
            return nil
        }
        guard integer("v") == 1, let id = string("id"), let subject = string("sub"), let login = integer("login"),
              let seen = integer("seen"), let expires = integer("exp")
        else { return nil }
        var claims: [String: String] = [:]
        if case .object(let entries)? = members.first(where: { $0.key == "claims" })?.value {
            for entry in entries { if case .string(let value) = entry.value { claims[entry.key] = value } }
        }
        return LoginSession(
            id: id, subject: subject, providerSessionID: string("sid"), loginAt: login, seenAt: seen, expiresAt: expires, claims: claims,
            accessToken: string("at"), accessTokenExpiresAt: integer("ate"), refreshToken: string("rt"), idToken: string("idt")
        )
    }
}

/// One login attempt, sealed into its own state cookie so parallel tabs never overwrite
/// each other's: the `state`, `nonce` and PKCE verifier, and where to go afterwards.
struct LoginAttempt: Sendable, Equatable {
    var state: String
    var nonce: String
    var verifier: String
    var returnTo: String
    var redirectURI: String
    var createdAt: Int

    /// A login attempt is good for ten minutes.
    static let lifetime = 600

    /// The longest return target an attempt keeps, in bytes as sealed (JSON-escaped: a `"`
    /// counts twice). Any site can start logins with a `return_to` of its choosing, and
    /// each of a browser's `LoginCookies.maxAttempts` state cookies carries one: at 2,048
    /// bytes five of them pushed `Cookie` to 15.7 KB, past the 8 KB common front proxies
    /// accept, locking the user out for ten minutes. At 512, five stay under 6 KB.
    static let maxReturnTo = 512

    /// Where the login comes back to: `raw` when it is at most `maxReturnTo` bytes and a
    /// target `RedirectTarget` follows, else `/`.
    static func returnTarget(_ raw: String, allowedOrigins: [String]) -> String {
        guard raw.utf8.count <= maxReturnTo, JSONText.quote(raw).utf8.count - 2 <= maxReturnTo else { return "/" }
        return RedirectTarget.validate(raw, allowedOrigins: allowedOrigins) ?? "/"
    }

    func encoded() -> [UInt8] {
        Array(("{\"v\":1,\"state\":\(JSONText.quote(state)),\"nonce\":\(JSONText.quote(nonce)),\"verifier\":\(JSONText.quote(verifier))"
            + ",\"return\":\(JSONText.quote(returnTo)),\"redirect\":\(JSONText.quote(redirectURI)),\"at\":\(createdAt)}").utf8)
    }

    static func decode(_ bytes: [UInt8]) -> LoginAttempt? {
        guard let document = try? JSONParser.parse(bytes), case .object(let members) = document else { return nil }
        func string(_ key: String) -> String? {
            if case .string(let value)? = members.first(where: { $0.key == key })?.value { return value }
            return nil
        }
        guard case .number(let version)? = members.first(where: { $0.key == "v" })?.value, version == 1,
              let state = string("state"), let nonce = string("nonce"), let verifier = string("verifier"),
              let returnTo = string("return"), let redirect = string("redirect"),
              case .number(let created)? = members.first(where: { $0.key == "at" })?.value, created.isFinite, abs(created) < 1e15
        else { return nil }
        return LoginAttempt(state: state, nonce: nonce, verifier: verifier, returnTo: returnTo, redirectURI: redirect, createdAt: Int(created))
    }
}
