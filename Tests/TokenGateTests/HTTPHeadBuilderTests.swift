import NIOCore
import NIOHTTP1
import Testing
@testable import TokenGate

/// The gateway writes every head it sends; these check the bytes, and that nothing that
/// could split a message is ever written.
@Suite("Heads the gateway writes")
struct HTTPHeadBuilderTests {
    private let allocator = ByteBufferAllocator()

    private func text(_ builder: HTTPHeadBuilder) -> String {
        String(decoding: builder.buffer.readableBytesView, as: UTF8.self)
    }

    @Test("a request head: request line, fields in order, the empty line")
    func requestBytes() {
        var head = HTTPHeadBuilder(capacity: 16, allocator: allocator)
        head.requestLine(method: .GET, target: "/a?b=c")
        head.field("Host", "example.com")
        head.numericField("Content-Length", 12)
        head.fixedLine("Transfer-Encoding: chunked\r\n")
        head.end()
        #expect(head.isValid)
        #expect(text(head) == "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nContent-Length: 12\r\nTransfer-Encoding: chunked\r\n\r\n")

        var other = HTTPHeadBuilder(capacity: 16, allocator: allocator)
        other.requestLine(method: .RAW(value: "PROPFIND"), target: "/")
        #expect(text(other) == "PROPFIND / HTTP/1.1\r\n")
    }

    @Test("response status lines: constants for the usual codes, built for the rest, HTTP/1.0 for a 1.0 client")
    func statusLines() {
        let cases: [(HTTPVersion, HTTPResponseStatus, String)] = [
            (.http1_1, .ok, "HTTP/1.1 200 OK\r\n"),
            (.http1_1, .notFound, "HTTP/1.1 404 Not Found\r\n"),
            (.http1_1, .serviceUnavailable, "HTTP/1.1 503 Service Unavailable\r\n"),
            (.http1_0, .ok, "HTTP/1.0 200 OK\r\n"),
            (.http1_1, .custom(code: 299, reasonPhrase: "Fine"), "HTTP/1.1 299 Fine\r\n"),
        ]
        for (version, status, expected) in cases {
            var head = HTTPHeadBuilder(capacity: 8, allocator: allocator)
            head.statusLine(version: version, status: status)
            #expect(text(head) == expected)
        }
    }

    @Test("a value with CR, LF, NUL or another control is refused, and nothing of that field is written",
          arguments: ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\u{0}b", "a\u{7F}b", "\u{1B}[31m"])
    func badValues(value: String) {
        var head = HTTPHeadBuilder(capacity: 16, allocator: allocator)
        head.field("X-Fine", "yes")
        head.field("X-Bad", value)
        head.field("X-After", "never")
        #expect(!head.isValid)
        #expect(head.problem == "the value of X-Bad")
        #expect(text(head) == "X-Fine: yes\r\n")
    }

    @Test("tabs and obs-text are allowed in values (RFC 9110 §5.5)")
    func allowedValues() {
        var head = HTTPHeadBuilder(capacity: 16, allocator: allocator)
        head.field("X-Tab", "a\tb")
        head.field("X-Latin", "caf\u{E9}")
        #expect(head.isValid)
    }

    @Test("a field name that is not a token is refused", arguments: ["", "Bad Name", "Bad:Name", "Bad\r\nName", "(x)", "Näme"])
    func badNames(name: String) {
        var head = HTTPHeadBuilder(capacity: 16, allocator: allocator)
        head.field(name, "v")
        #expect(!head.isValid)
        #expect(head.problem == "a field name")
        #expect(head.buffer.readableBytes == 0)
    }

    @Test("a request target with whitespace or a control, or a method that is not a token, is refused")
    func badRequestLines() {
        for target in ["/a b", "/a\r\nb", "", "/\u{7F}"] {
            var head = HTTPHeadBuilder(capacity: 16, allocator: allocator)
            head.requestLine(method: .GET, target: target)
            #expect(!head.isValid && head.problem == "request target", "\(target.debugDescription)")
        }
        var head = HTTPHeadBuilder(capacity: 16, allocator: allocator)
        head.requestLine(method: .RAW(value: "GET /x"), target: "/")
        #expect(!head.isValid && head.problem == "method")
    }

    @Test("chunk framing: hex size line, the bytes, CRLF; large parts are not copied; empty parts are skipped")
    func chunks() {
        func framed(_ size: Int) -> [ByteBuffer] {
            var parts: [ByteBuffer] = []
            ChunkedCoding.frame(ByteBuffer(repeating: UInt8(ascii: "x"), count: size), allocator: allocator) { parts.append($0) }
            return parts
        }
        #expect(framed(0).isEmpty)
        let small = framed(26)
        #expect(small.count == 1)
        #expect(String(decoding: small[0].readableBytesView, as: UTF8.self) == "1a\r\n" + String(repeating: "x", count: 26) + "\r\n")
        let large = framed(ChunkedCoding.copyLimit + 1)
        #expect(large.count == 3)
        #expect(String(decoding: large[0].readableBytesView, as: UTF8.self) == String(ChunkedCoding.copyLimit + 1, radix: 16) + "\r\n")
        #expect(large[1].readableBytes == ChunkedCoding.copyLimit + 1)
        #expect(String(decoding: large[2].readableBytesView, as: UTF8.self) == "\r\n")
    }
}
