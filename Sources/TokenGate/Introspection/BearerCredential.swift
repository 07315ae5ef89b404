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
        // On the bytes: walking `String.UTF8View` index by index and slicing the string
        // with its indices cost about 500 instructions on every validated request.
        var field = value
        return field.withUTF8 { parse($0, queryHasAccessToken: queryHasAccessToken) }
    }

    /// `Bearer <token>`, scheme matched ignoring case, spaces around the token dropped.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, queryHasAccessToken: Bool) -> BearerCredential {
        guard let space = bytes.firstIndex(of: UInt8(ascii: " ")) else {
            return ASCII.equalsIgnoringCase(bytes, "bearer") ? .malformed("the Bearer token is empty") : .absent
        }
        guard ASCII.equalsIgnoringCase(UnsafeBufferPointer(rebasing: bytes[..<space]), "bearer") else {
            // Another scheme (Basic, …) carries no bearer token.
            return .absent
        }
        if queryHasAccessToken { return .malformed("the token is in both the Authorization header and the query") }
        var start = space &+ 1
        while start < bytes.count, bytes[start] == UInt8(ascii: " ") { start &+= 1 }
        var end = bytes.count
        while end > start, bytes[end &- 1] == UInt8(ascii: " ") { end &-= 1 }
        guard end > start else { return .malformed("the Bearer token is empty") }
        return .token(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self))
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
