import NIOCore
import NIOHTTP1

/// An answer the gateway gives on its own behalf: an HTTP status, a stable machine code,
/// and a sentence for a person. It renders itself as the JSON body users rely on,
/// `{"error":"upstream_timeout","route":"billing","detail":"…"}`, and never carries a
/// token or secret (`detail` is written by the gateway, never copied from a peer).
struct GatewayError: Error, Sendable {
    var status: HTTPResponseStatus
    var code: String
    var detail: String
    var route: String?
    /// Extra fields for the JSON body (`credential` names a profile).
    var fields: [(key: String, value: String)] = []
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`).
    var headers: [(name: String, value: String)] = []
    /// A page for a person, sent as `text/html` instead of the JSON body (the logout
    /// confirmation). Written by the gateway; anything in it from a request is escaped.
    var page: String? = nil

    static func badRequest(_ detail: String) -> GatewayError {
        GatewayError(status: .badRequest, code: "bad_request", detail: detail)
    }

    static func notFound() -> GatewayError {
        GatewayError(status: .notFound, code: "no_route", detail: "no route matches this request")
    }

    static func headersTooLarge(_ detail: String) -> GatewayError {
        GatewayError(status: .requestHeaderFieldsTooLarge, code: "headers_too_large", detail: detail)
    }

    static func bodyTooLarge(route: String, limit: Int) -> GatewayError {
        GatewayError(status: .payloadTooLarge, code: "body_too_large", detail: "request body is larger than \(limit) bytes", route: route)
    }

    static func requestTimeout() -> GatewayError {
        GatewayError(status: .requestTimeout, code: "request_timeout", detail: "the request head did not arrive in time")
    }

    /// The JSON body (or the `page`).
    func body(allocator: ByteBufferAllocator) -> ByteBuffer {
        if let page { return allocator.buffer(string: page) }
        var json = "{\"error\":\(JSONText.quote(code))"
        if let route { json += ",\"route\":\(JSONText.quote(route))" }
        for field in fields { json += ",\(JSONText.quote(field.key)):\(JSONText.quote(field.value))" }
        json += ",\"detail\":\(JSONText.quote(detail))}\n"
        return allocator.buffer(string: json)
    }

    /// The response head for this error; `keepAlive` false adds `Connection: close`.
    func head(version: HTTPVersion, contentLength: Int, keepAlive: Bool) -> HTTPResponseHead {
        var fields = HTTPHeaders()
        fields.add(name: "Content-Type", value: page == nil ? "application/json" : "text/html; charset=utf-8")
        fields.add(name: "Content-Length", value: String(contentLength))
        fields.add(name: "Cache-Control", value: "no-store")
        for header in headers { fields.add(name: header.name, value: header.value) }
        if !keepAlive { fields.add(name: "Connection", value: "close") }
        return HTTPResponseHead(version: version.major == 1 && version.minor == 0 ? .http1_0 : .http1_1, status: status, headers: fields)
    }
}

/// JSON string quoting for the few bodies the gateway writes by hand; the escaping is
/// the access log's (`LogLineBuilder.quoted`), so there is one JSON escaper.
enum JSONText {
    static func quote(_ text: String) -> String {
        LogLineBuilder.string(capacity: LogLineBuilder.bound(text)) { $0.quoted(text) }
    }
}
