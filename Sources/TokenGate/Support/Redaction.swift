/// The one place that decides what must never be shown: in a log line, an error body, a
/// metric label or `/status`. Everything that prints request data goes through here.
///
/// - Secrets held by the gateway are `Redacted` values, which print as `placeholder`.
/// - Header values are never printed at all (no log line, status or metric carries one),
///   so `Authorization`, `Cookie`, `Set-Cookie` and `Proxy-Authorization` cannot leak.
/// - Request targets keep their query parameter names, but values of parameters that
///   commonly carry credentials are replaced (`target(_:policy:extra:)`).
enum Redaction {
    /// What is shown instead of a hidden value.
    static let placeholder = "<redacted>"

    /// Query parameters whose values are credentials in OAuth 2, OIDC and common APIs.
    static let sensitiveQueryParameters: Set<String> = [
        "access_token", "refresh_token", "id_token", "token", "code", "code_verifier", "client_secret",
        "client_assertion", "assertion", "password", "passwd", "pwd", "secret", "api_key", "apikey", "key",
        "signature", "sig", "x-amz-signature", "x-amz-security-token", "session", "session_id", "sessionid", "auth",
    ]

    /// A request target fit for a log line: the path, and the query as `policy` allows,
    /// with values of sensitive parameters (and of `extra`, lower-case names) replaced.
    static func target(_ uri: String, policy: AccessLogConfig.QueryPolicy, extra: Set<String> = []) -> String {
        guard let mark = ASCII.firstIndex(of: UInt8(ascii: "?"), in: uri) else { return uri }
        let path = uri[..<mark]
        if policy == .drop { return String(path) }
        let query = uri[uri.index(after: mark)...]
        return path + "?" + Self.query(query, redactAll: policy == .redactAll, extra: extra)
    }

    /// `a=1&access_token=x` → `a=1&access_token=<redacted>` (all values with `redactAll`).
    static func query(_ query: Substring, redactAll: Bool, extra: Set<String> = []) -> String {
        var parts: [Substring] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
            guard let equals = pair.firstIndex(of: "=") else {
                parts.append(pair)
                continue
            }
            let name = pair[..<equals]
            let key = (name.removingPercentEncoding ?? String(name)).lowercased()
            if redactAll || sensitiveQueryParameters.contains(key) || extra.contains(key) {
                parts.append(name + "=" + placeholder)
            } else {
                parts.append(pair)
            }
        }
        return parts.joined(separator: "&")
    }
}

extension Substring {
    /// Decodes `%XX` escapes (and `+` as space); nil when an escape is malformed.
    var removingPercentEncoding: String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexDigitValue), let low = iterator.next().flatMap(hexDigitValue) else { return nil }
                bytes.append(high << 4 | low)
            default:
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
