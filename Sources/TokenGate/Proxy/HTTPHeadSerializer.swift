import NIOCore
import NIOHTTP1

/// Writes HTTP/1.1 message heads as bytes, checking every byte on the way: method and field
/// names must be tokens (RFC 9110 §5.1, §9.1), field values and reason phrases free of
/// controls other than HTAB (§5.5), and the request target free of whitespace and controls.
/// Nothing the gateway writes can therefore split a message, whatever a client, an upstream
/// or an authorization server put into a field.
///
/// It replaces NIO's encoders and their outbound header validators on the proxy's
/// connections: each field is measured once and copied once into a buffer sized for the
/// whole head, where NIO's pair spent several hundred instructions per field.
enum HTTPHeadSerializer {
    /// A head that would not be a well-formed message: never written.
    struct InvalidHead: Error, CustomStringConvertible {
        /// What was wrong, without the offending value (it may be a credential).
        let what: String
        var description: String { "refused to send a malformed HTTP head: \(what)" }
    }

    /// A serialised head and how the body after it is framed.
    struct Encoded {
        var buffer: ByteBuffer
        /// The first `Transfer-Encoding` is exactly `chunked` on HTTP/1.1 (NIO's rule): body
        /// parts are chunk-framed by the encoder. Any other coding list is framed by its writer.
        var chunked: Bool
    }

    static func request(_ head: HTTPRequestHead, allocator: ByteBufferAllocator) -> Result<Encoded, InvalidHead> {
        let method = head.method.rawValue
        guard !method.isEmpty, method.utf8.allSatisfy(isTokenByte) else { return .failure(InvalidHead(what: "method")) }
        guard !head.uri.isEmpty, head.uri.utf8.allSatisfy(isTargetByte) else { return .failure(InvalidHead(what: "request target")) }
        var buffer = allocator.buffer(capacity: method.utf8.count + head.uri.utf8.count + 12 + fieldsSize(head.headers))
        buffer.writeString(method)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(head.uri)
        writeVersion(head.version, leadingSpace: true, into: &buffer)
        buffer.writeStaticString("\r\n")
        return fields(head.headers, version: head.version, into: buffer)
    }

    static func response(_ head: HTTPResponseHead, allocator: ByteBufferAllocator) -> Result<Encoded, InvalidHead> {
        let reason = head.status.reasonPhrase
        guard reason.utf8.allSatisfy(isFieldValueByte) else { return .failure(InvalidHead(what: "reason phrase")) }
        let code = head.status.code
        guard (100...999).contains(code) else { return .failure(InvalidHead(what: "status code")) }
        var buffer = allocator.buffer(capacity: reason.utf8.count + 15 + fieldsSize(head.headers))
        writeVersion(head.version, leadingSpace: false, into: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: code / 100))
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: code / 10 % 10))
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: code % 10))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(reason)
        buffer.writeStaticString("\r\n")
        return fields(head.headers, version: head.version, into: buffer)
    }

    /// The last chunk and its trailer section (`0`, the fields, an empty line).
    static func lastChunk(trailers: HTTPHeaders?, allocator: ByteBufferAllocator) -> Result<ByteBuffer, InvalidHead> {
        guard let trailers, !trailers.isEmpty else { return .success(allocator.buffer(staticString: "0\r\n\r\n")) }
        var buffer = allocator.buffer(capacity: 3 + fieldsSize(trailers))
        buffer.writeStaticString("0\r\n")
        return fields(trailers, version: .http1_1, into: buffer).map(\.buffer)
    }

    /// The bytes the fields take on the wire, with the empty line after them.
    private static func fieldsSize(_ headers: HTTPHeaders) -> Int {
        var size = 2
        for (name, value) in headers { size &+= name.utf8.count &+ value.utf8.count &+ 4 }
        return size
    }

    /// Appends `name: value` lines and the empty line; fails on the first bad byte.
    private static func fields(_ headers: HTTPHeaders, version: HTTPVersion, into start: ByteBuffer) -> Result<Encoded, InvalidHead> {
        var buffer = start
        var chunked: Bool?
        var failure: InvalidHead?
        let size = fieldsSize(headers)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var at = 0
            for (name, value) in headers {
                guard !name.isEmpty, copy(name, into: out, at: &at, allowed: isTokenByte) else {
                    failure = InvalidHead(what: "a field name")
                    return 0
                }
                out[at] = UInt8(ascii: ":")
                out[at &+ 1] = UInt8(ascii: " ")
                at &+= 2
                guard copy(value, into: out, at: &at, allowed: isFieldValueByte) else {
                    failure = InvalidHead(what: "the value of \(name)")
                    return 0
                }
                out[at] = UInt8(ascii: "\r")
                out[at &+ 1] = UInt8(ascii: "\n")
                at &+= 2
                if chunked == nil, name.utf8.count == 17, name.caseInsensitiveEquals("transfer-encoding") {
                    chunked = value == "chunked"
                }
            }
            out[at] = UInt8(ascii: "\r")
            out[at &+ 1] = UInt8(ascii: "\n")
            return at &+ 2
        }
        if let failure { return .failure(failure) }
        let isHTTP11 = version.major == 1 && version.minor >= 1
        return .success(Encoded(buffer: buffer, chunked: isHTTP11 && chunked == true))
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

    private static func writeVersion(_ version: HTTPVersion, leadingSpace: Bool, into buffer: inout ByteBuffer) {
        if leadingSpace { buffer.writeInteger(UInt8(ascii: " ")) }
        if version.major == 1 && version.minor == 0 {
            buffer.writeStaticString("HTTP/1.0")
        } else {
            // The gateway speaks HTTP/1.1 to both sides whatever else a head says.
            buffer.writeStaticString("HTTP/1.1")
        }
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
