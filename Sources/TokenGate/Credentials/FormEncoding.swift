/// `application/x-www-form-urlencoded` as RFC 6749 Appendix B requires it for token
/// requests and for the client id and secret in HTTP Basic (§2.3.1): every byte except
/// ALPHA / DIGIT / `-` `.` `_` `*` is percent-encoded, and space becomes `+`.
enum FormEncoding {
    static func escape(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "*"):
                out.append(byte)
            case UInt8(ascii: " "):
                out.append(UInt8(ascii: "+"))
            default:
                let digits: [UInt8] = Array("0123456789ABCDEF".utf8)
                out.append(UInt8(ascii: "%"))
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `name=value&…` in the given order.
    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }
}

/// Standard base64 (RFC 4648 §4), for HTTP Basic credentials.
enum Base64 {
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            let value = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            out.append(second == nil ? UInt8(ascii: "=") : alphabet[Int(value >> 6 & 63)])
            out.append(third == nil ? UInt8(ascii: "=") : alphabet[Int(value & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// How a client proves itself to an authorization server endpoint (RFC 6749 §2.3.1):
/// HTTP Basic over the form-encoded id and secret, or both in the form body.
enum ClientAuthentication {
    static func apply(
        _ method: CredentialProfileConfig.AuthMethod, clientID: String, secret: Redacted,
        headers: inout [(name: String, value: String)], form: inout [(String, String)]
    ) {
        switch method {
        case .clientSecretBasic:
            let credentials = FormEncoding.escape(clientID) + ":" + FormEncoding.escape(secret.revealed)
            headers.append(("Authorization", "Basic " + Base64.encode(Array(credentials.utf8))))
        case .clientSecretPost:
            form.append(("client_id", clientID))
            form.append(("client_secret", secret.revealed))
        }
    }
}
