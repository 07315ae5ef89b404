/// The bearer token a request carries (RFC 6750 §2.1), as the planner found it.
enum BearerCredential: Equatable {
    case absent
    /// A non-empty token whose b64token syntax is not checked yet: admission checks it
    /// (`isB64Token`, else 400) before the token is introspected or verified, never on a
    /// cache hit, since only tokens that passed it are ever cached. A JWT is hundreds of
    /// bytes; checking it once per token rather than once per request keeps a cache hit
    /// as cheap for a JWT as for a short opaque token.
    case token(String)
    /// More than one `Authorization` header, an empty token, or a token both in the
    /// header and the query.
    case malformed(String)

    static let notB64Token = "the Bearer token is not a valid token68 value"
    static let tokenInQuery = "a token in the query string (access_token) is not accepted: URLs are logged and leak through Referer; send it as Authorization: Bearer (RFC 9700 §4.3.2)"

    /// Reads the `Authorization` values and whether the query carries `access_token`.
    static func extract(authorization: [String], queryHasAccessToken: Bool) -> BearerCredential {
        guard let value = authorization.first else {
            // RFC 6750 §2.3 allows it, RFC 9700 §2.1.2 and §4.3.2 advise against it: URLs end
            // up in logs, history and Referer headers. The implicit grant's habit; refused.
            return queryHasAccessToken ? .malformed(Self.tokenInQuery) : .absent
        }
        if authorization.count > 1 { return .malformed("more than one Authorization header") }
        let utf8 = value.utf8
        guard let space = utf8.firstIndex(of: UInt8(ascii: " ")) else {
            return value.caseInsensitiveEquals("bearer") ? .malformed("the Bearer token is empty") : .absent
        }
        guard ASCII.equalsIgnoringCase(value[..<space], "bearer") else {
            // Another scheme (Basic, …) carries no bearer token.
            return .absent
        }
        if queryHasAccessToken { return .malformed("the token is in both the Authorization header and the query") }
        var start = utf8.index(after: space)
        while start < utf8.endIndex, utf8[start] == UInt8(ascii: " ") { start = utf8.index(after: start) }
        var end = utf8.endIndex
        while end > start, utf8[utf8.index(before: end)] == UInt8(ascii: " ") { end = utf8.index(before: end) }
        let token = String(value[start..<end])
        guard !token.isEmpty else { return .malformed("the Bearer token is empty") }
        return .token(token)
    }

    /// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    /// One table load per byte: JWTs are hundreds of bytes, checked on every request.
    static func isB64Token(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            ByteClass.b64Token.withTable { table in
                var index = 0
                while index < bytes.count, table[Int(bytes[index])] { index &+= 1 }
                guard index > 0 else { return false }
                while index < bytes.count, bytes[index] == UInt8(ascii: "=") { index &+= 1 }
                return index == bytes.count
            }
        }
    }

    /// Whether a query string has an `access_token` parameter.
    static func queryHasAccessToken(_ query: String?) -> Bool {
        guard let query else { return false }
        return query.split(separator: "&").contains { $0 == "access_token" || $0.hasPrefix("access_token=") }
    }
}
