import NIOCore
import NIOHTTP1

/// Builds an HTTP/1.1 message head as bytes, checking every byte on the way: method and
/// field names must be tokens (RFC 9110 §5.1, §9.1), field values and reason phrases free
/// of controls other than HTAB (§5.5), the request target free of whitespace and controls.
/// Nothing the gateway writes can therefore split a message, whatever a client, an
/// upstream or an authorization server put into a field: a head with a bad byte is marked
/// invalid and never sent.
///
/// The proxy writes its heads with this rather than through NIO's encoders: NIO's llhttp
/// decoder still parses every message, but the heads going out are built once, field by
/// field, into one buffer, with no `HTTPHeaders` copy, no `NIOAny` boxing and no encoder
/// and validator handlers to pass through.
struct HTTPHeadBuilder {
    private(set) var buffer: ByteBuffer
    /// False once anything refused was offered; such a head must not be sent.
    private(set) var isValid = true
    /// What was refused first (without the value: it may be a credential).
    private(set) var problem: String?

    init(capacity: Int, allocator: ByteBufferAllocator) {
        buffer = allocator.buffer(capacity: capacity)
    }

    /// Continues a head begun elsewhere (a planned request's fields).
    init(continuing buffer: ByteBuffer) {
        self.buffer = buffer
    }

    /// `METHOD target HTTP/1.1`.
    mutating func requestLine(method: HTTPMethod, target: String) {
        let name = method.rawValue
        guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else { return refuse("method") }
        guard !target.isEmpty, target.utf8.allSatisfy(Self.isTargetByte) else { return refuse("request target") }
        buffer.writeString(name)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(target)
        buffer.writeStaticString(" HTTP/1.1\r\n")
    }

    /// `HTTP/1.x code reason`: HTTP/1.0 to a 1.0 client, HTTP/1.1 otherwise.
    mutating func statusLine(version: HTTPVersion, status: HTTPResponseStatus) {
        let reason = status.reasonPhrase
        let code = status.code
        guard (100...999).contains(code) else { return refuse("status code") }
        guard reason.utf8.allSatisfy(Self.isFieldValueByte) else { return refuse("reason phrase") }
        buffer.writeStaticString(version.major == 1 && version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: code / 100))
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: code / 10 % 10))
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: code % 10))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(reason)
        buffer.writeStaticString("\r\n")
    }

    /// `name: value`, both copied and checked in one pass.
    mutating func field(_ name: String, _ value: String) {
        guard isValid else { return }
        var valid = true
        let nameLength = name.utf8.count
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: nameLength &+ value.utf8.count &+ 4) { out in
            var at = 0
            guard nameLength > 0, Self.copy(name, into: out, at: &at, allowed: Self.isTokenByte) else {
                valid = false
                return 0
            }
            out[at] = UInt8(ascii: ":")
            out[at &+ 1] = UInt8(ascii: " ")
            at &+= 2
            guard Self.copy(value, into: out, at: &at, allowed: Self.isFieldValueByte) else {
                valid = false
                return 0
            }
            out[at] = UInt8(ascii: "\r")
            out[at &+ 1] = UInt8(ascii: "\n")
            return at &+ 2
        }
        if !valid { refuse(nameLength > 0 && name.utf8.allSatisfy(Self.isTokenByte) ? "the value of \(name)" : "a field name") }
    }

    /// A field whose value is a decimal number.
    mutating func numericField(_ name: StaticString, _ value: Int) {
        buffer.writeStaticString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(String(value))
        buffer.writeStaticString("\r\n")
    }

    /// A field the gateway spells out itself (name and value known to be valid).
    mutating func fixedField(_ name: StaticString, _ value: StaticString) {
        buffer.writeStaticString(name)
        buffer.writeStaticString(": ")
        buffer.writeStaticString(value)
        buffer.writeStaticString("\r\n")
    }

    /// Every field of `headers`.
    mutating func fields(_ headers: HTTPHeaders) {
        for (name, value) in headers { field(name, value) }
    }

    /// The empty line that ends the head.
    mutating func end() {
        buffer.writeStaticString("\r\n")
    }

    /// A complete response head from NIO's type (the gateway's own answers).
    static func response(_ head: HTTPResponseHead, allocator: ByteBufferAllocator) -> HTTPHeadBuilder {
        var builder = HTTPHeadBuilder(capacity: 256, allocator: allocator)
        builder.statusLine(version: head.version, status: head.status)
        builder.fields(head.headers)
        builder.end()
        return builder
    }

    private mutating func refuse(_ what: String) {
        if isValid { problem = what }
        isValid = false
    }

    /// Copies `text`'s bytes to `out` at `at` while every byte is `allowed`.
    @inline(__always)
    private static func copy(_ text: String, into out: UnsafeMutableRawBufferPointer, at: inout Int, allowed: (UInt8) -> Bool) -> Bool {
        var position = at
        var valid = true
        let contiguous: Void? = text.utf8.withContiguousStorageIfAvailable { bytes in
            for byte in bytes {
                guard allowed(byte) else { valid = false; return }
                out[position] = byte
                position &+= 1
            }
        }
        if contiguous == nil {
            for byte in text.utf8 {
                guard allowed(byte) else { return false }
                out[position] = byte
                position &+= 1
            }
        }
        at = position
        return valid
    }

    /// RFC 9110 §5.6.2 `tchar`.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// RFC 9110 §5.5 field content: visible characters, obs-text, SP and HTAB.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
    }

    /// A request-target byte: anything visible (the planner has already normalised and
    /// escaped it); never whitespace or a control.
    @inline(__always)
    static func isTargetByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte != 0x7F
    }
}
