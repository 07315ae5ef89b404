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
        switch method {
        case .GET: buffer.writeStaticString("GET ")
        case .POST: buffer.writeStaticString("POST ")
        case .HEAD: buffer.writeStaticString("HEAD ")
        case .PUT: buffer.writeStaticString("PUT ")
        default:
            let name = method.rawValue
            guard !name.isEmpty, name.utf8.allSatisfy(ByteClass.token.contains) else { return refuse("method") }
            buffer.writeString(name)
            buffer.writeInteger(UInt8(ascii: " "))
        }
        var target = target
        let valid = target.withUTF8 { bytes in
            guard !bytes.isEmpty, ByteClass.target.containsAll(bytes) else { return false }
            buffer.writeBytes(UnsafeRawBufferPointer(bytes))
            return true
        }
        guard valid else { return refuse("request target") }
        buffer.writeStaticString(" HTTP/1.1\r\n")
    }

    /// `HTTP/1.x code reason`: HTTP/1.0 to a 1.0 client, HTTP/1.1 otherwise.
    mutating func statusLine(version: HTTPVersion, status: HTTPResponseStatus) {
        let isHTTP10 = version.major == 1 && version.minor == 0
        if !isHTTP10 {
            // The usual answers, as one constant each.
            let line: StaticString?
            switch status {
            case .ok: line = "HTTP/1.1 200 OK\r\n"
            case .created: line = "HTTP/1.1 201 Created\r\n"
            case .noContent: line = "HTTP/1.1 204 No Content\r\n"
            case .found: line = "HTTP/1.1 302 Found\r\n"
            case .notModified: line = "HTTP/1.1 304 Not Modified\r\n"
            case .notFound: line = "HTTP/1.1 404 Not Found\r\n"
            default: line = nil
            }
            if let line {
                buffer.writeStaticString(line)
                return
            }
        }
        let reason = status.reasonPhrase
        let code = status.code
        guard (100...999).contains(code) else { return refuse("status code") }
        guard reason.utf8.allSatisfy(ByteClass.fieldValue.contains) else { return refuse("reason phrase") }
        buffer.writeStaticString(isHTTP10 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: code / 100))
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: code / 10 % 10))
        buffer.writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: code % 10))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(reason)
        buffer.writeStaticString("\r\n")
    }

    /// `name: value`, checked byte by byte, then copied in one go.
    mutating func field(_ name: String, _ value: String) {
        put(name, value, checked: true)
    }

    /// `name: value` without the byte checks, for the one field whose bytes were all checked
    /// when it was made rather than on every request: the injected credential (its header
    /// name and scheme by the configuration's validation, its token as an RFC 6750
    /// b64token, at most 16 KiB, by `TokenResponseParser`). Anything a client, an upstream or
    /// a claim supplies goes through `field`.
    mutating func preverifiedField(_ name: String, _ value: String) {
        put(name, value, checked: false)
    }

    /// Both fields' way to the bytes: `append` checks them, `write` copies them.
    private mutating func put(_ name: String, _ value: String, checked: Bool) {
        guard isValid else { return }
        var name = name
        var value = value
        name.withUTF8 { name in
            value.withUTF8 { value in
                if checked { append(name: name, value: value) } else { write(name: name, value: value) }
            }
        }
    }

    private mutating func append(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        guard !name.isEmpty, ByteClass.token.containsAll(name) else { return refuse("a field name") }
        guard ByteClass.isFieldValue(value) else {
            return refuse("the value of \(String(decoding: name, as: UTF8.self))")
        }
        write(name: name, value: value)
    }

    private mutating func write(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: name.count &+ value.count &+ 4) { out in
            guard let target = out.baseAddress else { return 0 }
            var at = 0
            if let source = name.baseAddress { (target + at).copyMemory(from: source, byteCount: name.count) }
            at &+= name.count
            out[at] = UInt8(ascii: ":")
            out[at &+ 1] = UInt8(ascii: " ")
            at &+= 2
            if let source = value.baseAddress { (target + at).copyMemory(from: source, byteCount: value.count) }
            at &+= value.count
            out[at] = UInt8(ascii: "\r")
            out[at &+ 1] = UInt8(ascii: "\n")
            return at &+ 2
        }
    }

    /// A field whose value is a decimal number.
    mutating func numericField(_ name: StaticString, _ value: Int) {
        buffer.writeStaticString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(String(value))
        buffer.writeStaticString("\r\n")
    }

    /// A whole field line the gateway spells out itself (`"Connection: close\r\n"`).
    mutating func fixedLine(_ line: StaticString) {
        buffer.writeStaticString(line)
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
}
