import NIOCore
import NIOHTTP1
@testable import TokenGate

/// `HTTPHeadBuilder`, the one writer of every head the gateway sends, against an
/// independent model of RFC 9110's rules. The input is a `HeadInput` with escapes
/// (`\r`, `\n`, `\0`, `\xHH`), so names and values can hold any byte: the first line is
/// a request line (`METHOD TARGET`) or, starting with `HTTP/`, a status line
/// (`HTTP/1.0 299 Reason`); the fields follow.
///
/// Invariants: the head is valid exactly when the method and field names are tokens,
/// the target is visible ASCII or obs-text, the status code has three digits and the
/// reason and values hold no control but HTAB; a valid head is byte for byte what the
/// model writes and splits into well-formed lines.
enum HeadBuilderTarget {
    static func run(_ bytes: [UInt8]) {
        let input = HeadInput(bytes, unescaping: true)
        var builder = HTTPHeadBuilder(capacity: 256, allocator: ByteBufferAllocator())
        var expected: [UInt8] = []
        var valid = true
        let response = input.firstLine.hasPrefix("HTTP/")
        if response {
            let words = input.words
            let version: HTTPVersion = words.first == "HTTP/1.0" ? .http1_0 : .http1_1
            let digits = words.count > 1 ? words[1].utf8.prefix(3).filter { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } : []
            let code = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            let reason = words.count > 2 ? words[2...].joined(separator: " ") : ""
            let status = HTTPResponseStatus(statusCode: code, reasonPhrase: reason)
            builder.statusLine(version: version, status: status)
            let phrase = status.reasonPhrase
            valid = (100...999).contains(status.code) && phrase.utf8.allSatisfy(isFieldValueByte)
            expected.append(contentsOf: (version == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ").utf8)
            expected.append(contentsOf: String(status.code).utf8)
            expected.append(UInt8(ascii: " "))
            expected.append(contentsOf: phrase.utf8)
            expected.append(contentsOf: [0x0D, 0x0A])
        } else {
            let words = input.firstLine.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            let method = HTTPMethod(rawValue: words.first.map { String($0) } ?? "")
            let target = words.count > 1 ? String(words[1]) : ""
            builder.requestLine(method: method, target: target)
            valid = !method.rawValue.isEmpty && method.rawValue.utf8.allSatisfy(isTokenByte)
                && !target.isEmpty && target.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7F }
            expected.append(contentsOf: method.rawValue.utf8)
            expected.append(UInt8(ascii: " "))
            expected.append(contentsOf: target.utf8)
            expected.append(contentsOf: " HTTP/1.1\r\n".utf8)
        }
        for field in input.fields {
            builder.field(field.name, field.value)
            valid = valid && !field.name.isEmpty && field.name.utf8.allSatisfy(isTokenByte) && field.value.utf8.allSatisfy(isFieldValueByte)
            expected.append(contentsOf: field.name.utf8)
            expected.append(contentsOf: ": ".utf8)
            expected.append(contentsOf: field.value.utf8)
            expected.append(contentsOf: [0x0D, 0x0A])
        }
        invariant(builder.isValid == valid, "the head builder's verdict (\(builder.isValid)) is not RFC 9110's (\(valid)); first refused: \(builder.problem ?? "none")")
        guard builder.isValid else {
            invariant(builder.problem != nil, "an invalid head does not say what was refused")
            return
        }
        builder.end()
        expected.append(contentsOf: [0x0D, 0x0A])
        invariant(Array(builder.buffer.readableBytesView) == expected, "the head builder wrote other bytes than the fields it was given")
        _ = WrittenHead.lines(builder.buffer, ended: true, what: "built head")

        // The same fields through the whole-head entry point the gateway's own answers use.
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: HTTPHeaders(input.fields.map { ($0.name, $0.value) }))
        invariant(HTTPHeadBuilder.response(head, allocator: ByteBufferAllocator()).isValid, "a valid field list is refused in a response head")
    }

    /// RFC 9110 §5.6.2 tchar.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }

    /// RFC 9110 §5.5 field-content bytes: HTAB, SP, VCHAR, obs-text.
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
    }
}
