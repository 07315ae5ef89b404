import NIOCore
import NIOHTTP1

/// A response the gateway writes itself, ready to send. Every listener renders its own
/// answers here: the proxy's (`ProxyHandler.respond`), the 408 the head timer writes below
/// the HTTP codec (`RequestHeadTimer`) and the admin listener's (`AdminHandler`), so they
/// all carry the same fields: `Content-Type`, `Content-Length`, `Cache-Control: no-store`
/// (an answer about this one request, never to be stored or reused), the answer's own
/// fields, and `Connection: close` when the connection ends after it.
///
/// The answer to a `HEAD` is the head alone, with the length a `GET` would have had
/// (RFC 9110 §9.3.2); to a `CONNECT`, the head alone with `Content-Length: 0`, since a
/// client would take any body after a 2xx as tunnel bytes.
struct RenderedAnswer {
    var head: HTTPResponseHead
    /// What follows the head: the body, or nothing (to a `HEAD` or `CONNECT`).
    var body: ByteBuffer

    init(
        status: HTTPResponseStatus, contentType: String, body: ByteBuffer, headers: [(name: String, value: String)] = [],
        version: HTTPVersion, keepAlive: Bool, method: HTTPMethod
    ) {
        let full = method == .CONNECT ? ByteBuffer() : body
        self.head = Self.responseHead(
            status: status, contentType: contentType, contentLength: full.readableBytes, headers: headers, version: version, keepAlive: keepAlive
        )
        self.body = method == .HEAD ? ByteBuffer() : full
    }

    /// The head of an answer of the gateway's own: HTTP/1.0 to a 1.0 client, HTTP/1.1
    /// otherwise.
    static func responseHead(
        status: HTTPResponseStatus, contentType: String, contentLength: Int, headers: [(name: String, value: String)],
        version: HTTPVersion, keepAlive: Bool
    ) -> HTTPResponseHead {
        var fields = HTTPHeaders()
        fields.add(name: "Content-Type", value: contentType)
        fields.add(name: "Content-Length", value: String(contentLength))
        fields.add(name: "Cache-Control", value: "no-store")
        for header in headers { fields.add(name: header.name, value: header.value) }
        if !keepAlive { fields.add(name: "Connection", value: "close") }
        return HTTPResponseHead(version: version.major == 1 && version.minor == 0 ? .http1_0 : .http1_1, status: status, headers: fields)
    }

    /// The head as bytes, every byte checked (`HTTPHeadBuilder`), for a listener that writes
    /// bytes rather than NIO's message parts; nil when a field is not valid, and then
    /// nothing may be sent.
    func headBytes(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let builder = HTTPHeadBuilder.response(head, allocator: allocator)
        return builder.isValid ? builder.buffer : nil
    }
}
