import NIOCore
@testable import TokenGate

/// The text form the HTTP targets read, so seeds look like what they stand for: a first
/// line, then `name: value` lines, an empty line, then a body.
///
/// Lines end at LF (a CR before it is dropped). A field line is split at its first `:`;
/// the value loses leading spaces and tabs (as NIO's decoder hands them over); a line
/// without `:` is a name with an empty value. Names starting with `:` are the target's
/// own settings (`:method: HEAD`), never fields. With `unescaping`, `\r`, `\n`, `\t`,
/// `\0`, `\\` and `\xHH` in names and values stand for those bytes, so a field can carry
/// a CR, LF or NUL.
struct HeadInput {
    var firstLine: String
    var fields: [(name: String, value: String)] = []
    /// `:name: value` lines, by name (without the colon).
    var settings: [String: String] = [:]
    var body: [UInt8] = []

    init(_ bytes: [UInt8], unescaping: Bool = false) {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var bodyStart: Int?
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                var line = bytes[start..<index]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                if line.isEmpty && !lines.isEmpty {
                    bodyStart = index + 1
                    break
                }
                lines.append(line)
                start = index + 1
            }
            index += 1
        }
        if bodyStart == nil && start < bytes.count {
            var line = bytes[start...]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            lines.append(line)
        }
        if let bodyStart, bodyStart < bytes.count { body = Array(bytes[bodyStart...]) }
        firstLine = lines.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        for line in lines.dropFirst() {
            let colon = line.dropFirst().firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
            let rawName = line[line.startIndex..<colon]
            var rawValue = colon < line.endIndex ? line[(colon + 1)...] : []
            while let first = rawValue.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { rawValue = rawValue.dropFirst() }
            let name = Self.text(rawName, unescaping: unescaping)
            let value = Self.text(rawValue, unescaping: unescaping)
            if rawName.first == UInt8(ascii: ":") {
                settings[String(name.dropFirst())] = value
            } else {
                fields.append((name, value))
            }
        }
    }

    /// The words of the first line, split at spaces.
    var words: [Substring] { firstLine.split(separator: " ", omittingEmptySubsequences: true) }

    private static func text(_ bytes: ArraySlice<UInt8>, unescaping: Bool) -> String {
        guard unescaping, bytes.contains(UInt8(ascii: "\\")) else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < bytes.endIndex else {
                out.append(byte)
                index += 1
                continue
            }
            let next = bytes[index + 1]
            switch next {
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "0"): out.append(0x00)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "x") where index + 3 < bytes.endIndex:
                if let high = hexDigitValue(bytes[index + 2]), let low = hexDigitValue(bytes[index + 3]) {
                    out.append(high << 4 | low)
                    index += 4
                    continue
                }
                out.append(byte)
                index += 1
                continue
            default:
                out.append(byte)
                index += 1
                continue
            }
            index += 2
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Checks on a head the gateway wrote, as bytes.
enum WrittenHead {
    /// The lines of a head, without their CRLF. Every CR must start a CRLF and every LF end
    /// one: a bare CR or LF, or a NUL, would let a peer read the head differently. The head
    /// must end with CRLF; with `ended`, with the empty line too, and no line before it may
    /// be empty (that would end the head early).
    static func lines(_ buffer: ByteBuffer, ended: Bool, what: String) -> [[UInt8]] {
        let bytes = Array(buffer.readableBytesView)
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            invariant(byte != 0, "\(what): a NUL byte in the head")
            if byte == 0x0D {
                invariant(index + 1 < bytes.count && bytes[index + 1] == 0x0A, "\(what): a CR not followed by LF")
                lines.append(current)
                current = []
                index += 2
                continue
            }
            invariant(byte != 0x0A, "\(what): an LF without CR")
            current.append(byte)
            index += 1
        }
        invariant(current.isEmpty, "\(what): the head does not end with CRLF")
        if ended {
            invariant(lines.last?.isEmpty == true, "\(what): the head does not end with an empty line")
            lines.removeLast()
        }
        invariant(!lines.contains { $0.isEmpty }, "\(what): an empty line inside the head")
        return lines
    }

    /// A field line split into name and value at its first `": "`; the name must be a token.
    static func field(_ line: [UInt8], what: String) -> (name: String, value: String) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            invariant(false, "\(what): a field line without a colon")
            return ("", "")
        }
        let name = line[..<colon]
        invariant(!name.isEmpty && name.allSatisfy(ByteClass.token.contains), "\(what): a field name that is not a token")
        invariant(colon + 1 < line.count && line[colon + 1] == UInt8(ascii: " "), "\(what): no space after the field name's colon")
        let value = line[min(line.count, colon + 2)...]
        invariant(value.allSatisfy(ByteClass.fieldValue.contains), "\(what): a field value with a control byte")
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }
}
