@testable import TokenGate

/// JSON text for a parsed value, with the gateway's own string quoting (`JSONText.quote`),
/// so a parsed document can be written out and parsed again.
enum JSONWriter {
    static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        // Swift's shortest round-trip spelling (`1.0`, `1e-05`, `1e+100`) is valid JSON;
        // the parser never yields an infinity or a NaN.
        case .number(let number): return "\(number)"
        case .string(let text): return JSONText.quote(text)
        case .array(let items): return "[" + items.map(text).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { JSONText.quote($0.key) + ":" + text($0.value) }.joined(separator: ",") + "}"
        }
    }

    /// Every string in a document, keys included.
    static func strings(_ value: JSONValue, into out: inout [String]) {
        switch value {
        case .string(let text): out.append(text)
        case .array(let items): for item in items { strings(item, into: &out) }
        case .object(let members):
            for member in members {
                out.append(member.key)
                strings(member.value, into: &out)
            }
        case .null, .bool, .number: break
        }
    }
}

/// Base64url without padding (RFC 4648 §5), for building tokens and changing sealed values.
enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int((chunk >> UInt32(shift)) & 0x3F)]) }
            index += 3
        }
        let rest = input.count - index
        if rest == 1 {
            let chunk = UInt32(input[index]) << 16
            for shift in [18, 12] { out.append(alphabet[Int((chunk >> UInt32(shift)) & 0x3F)]) }
        } else if rest == 2 {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            for shift in [18, 12, 6] { out.append(alphabet[Int((chunk >> UInt32(shift)) & 0x3F)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The input's lines as text: split at LF, a CR before it dropped, invalid UTF-8 replaced.
func textLines(_ bytes: [UInt8]) -> [String] {
    bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
        String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
    }
}

/// A small deterministic choice from an input (which field to change, which variant to
/// run), so the same input always does the same thing.
func pick(_ bytes: [UInt8], _ count: Int) -> Int {
    guard count > 0 else { return 0 }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01B3
    }
    return Int(hash % UInt64(count))
}
