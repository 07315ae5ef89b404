import ExtrasBase64
import NIOHTTP1
@testable import TokenGate

/// `application/x-www-form-urlencoded`: `FormEncoding.decode` on each pair of a form or
/// query (the back-channel logout body, the login callback's query through
/// `LoginRequest.parameter`), `FormEncoding.escape`/`encode` for what the gateway sends,
/// and HTTP Basic client authentication built from the decoded values. The input is the
/// form (`logout_token=…`, `code=…&state=…`).
///
/// Invariants: a decoded value escapes and decodes back to itself, byte for byte; an
/// escaped value holds only unreserved bytes, `+` and `%XX`; an encoded form decodes
/// back to its fields; a Basic credential is a valid header value that decodes back to
/// the id and secret; a login return target is `/` or a followed target.
enum FormTarget {
    static func run(_ bytes: [UInt8]) {
        let form = String(decoding: bytes, as: UTF8.self)
        var fields: [(String, String)] = []
        for pair in form.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = FormEncoding.decode(parts[0])
            let value = parts.count > 1 ? FormEncoding.decode(parts[1]) : ""
            for decoded in [name, value].compactMap({ $0 }) { checkEscape(decoded) }
            if let name, let value { fields.append((name, value)) }
        }
        let encoded = FormEncoding.encode(fields)
        let again = encoded.isEmpty ? [] : encoded.split(separator: "&", omittingEmptySubsequences: false).map { pair -> (String, String)? in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let name = FormEncoding.decode(parts[0]), let value = FormEncoding.decode(parts[1]) else { return nil }
            return (name, value)
        }
        invariant(again.count == fields.count && zip(again, fields).allSatisfy { decoded, field in
            decoded.map { $0.0.utf8.elementsEqual(field.0.utf8) && $0.1.utf8.elementsEqual(field.1.utf8) } == true
        }, "an encoded form does not decode back to its fields")

        // The back-channel logout body, read as the handler reads it.
        let token = form.split(separator: "&").first { $0.hasPrefix("logout_token=") }.flatMap { FormEncoding.decode($0.dropFirst("logout_token=".count)) }
        if let token { _ = CompactJWT.parse(token) }

        // HTTP Basic from the first two decoded values (RFC 6749 §2.3.1).
        if let clientID = fields.first?.0 {
            let secret = fields.first?.1 ?? ""
            var headers: [(name: String, value: String)] = []
            var body: [(String, String)] = []
            ClientAuthentication.apply(.clientSecretBasic, clientID: clientID, secret: Redacted(secret), headers: &headers, form: &body)
            invariant(headers.count == 1 && headers[0].name == "Authorization" && headers[0].value.hasPrefix("Basic "), "Basic authentication is not one Authorization field")
            if let value = headers.first?.value {
                invariant(InboundPolicy.isHeaderSafe(value), "a Basic credential is not a valid header value")
                let decoded = (try? Base64.decode(string: String(value.dropFirst("Basic ".count)))).map { String(decoding: $0, as: UTF8.self) } ?? ""
                let parts = decoded.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                invariant(parts.count == 2 && FormEncoding.decode(parts[0]) == clientID && FormEncoding.decode(parts[1]) == secret,
                          "a Basic credential does not decode back to the id and secret")
            }
        }

        // The login callback's query.
        let profile = Fixture.shared.login
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/portal/.tokengate/callback?" + form, headers: ["Host": "app.example.com"])
        let request = LoginRequest(head: head, path: "/portal/.tokengate/callback", query: form, authority: "app.example.com", forwardedProto: nil, login: profile)
        for name in ["code", "state", "error", "return_to", "iss"] { _ = request.parameter(name) }
        if let returnTo = request.parameter("return_to") {
            let target = LoginAttempt.returnTarget(returnTo, allowedOrigins: profile.config.allowedRedirectOrigins)
            invariant(target == "/" || RedirectTarget.validate(target, allowedOrigins: profile.config.allowedRedirectOrigins) == target,
                      "a login return target is neither / nor a followed target")
        }
    }

    static func checkEscape(_ value: String) {
        let escaped = FormEncoding.escape(value)
        var index = escaped.utf8.startIndex
        let utf8 = escaped.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let digits = utf8[utf8.index(after: index)...].prefix(2)
                invariant(digits.count == 2 && digits.allSatisfy { hexDigitValue($0) != nil }, "an escaped value has a broken %XX")
                index = utf8.index(index, offsetBy: 3)
                continue
            }
            let unreserved = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "-._*+".utf8.contains(byte)
            invariant(unreserved, "an escaped value holds a byte that must be escaped")
            index = utf8.index(after: index)
        }
        invariant(FormEncoding.decode(Substring(escaped)).map { $0.utf8.elementsEqual(value.utf8) } == true, "an escaped value does not decode back to itself")
    }
}
