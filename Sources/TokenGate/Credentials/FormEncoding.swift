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

    /// The value of a form-encoded field: `+` is a space, `%XX` a byte; nil when an escape
    /// is broken or the bytes are not UTF-8.
    static func decode(_ text: Substring) -> String? {
        decode(text, plusIsSpace: true)
    }

    /// A URL component's `%XX` escapes decoded (`+` stays `+`); nil as for `decode`.
    static func percentDecode(_ text: Substring) -> String? {
        decode(text, plusIsSpace: false)
    }

    private static func decode(_ text: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+") where plusIsSpace: bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexDigitValue), let low = iterator.next().flatMap(hexDigitValue) else { return nil }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// `name=value&…` in the given order.
    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }
}
