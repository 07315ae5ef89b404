import NIOCore
import NIOHTTP1

/// An answer the gateway gives on its own behalf: a code from the catalogue
/// (`AnswerCode`, which fixes the HTTP status), a sentence for a person, and what the
/// answer adds. It renders itself as the JSON body users rely on,
/// `{"error":"upstream_timeout","route":"billing","detail":"…"}`, and never carries a
/// token or secret (`detail` is written by the gateway, never copied from a peer).
///
/// Most answers are refusals, which is why it can be the failure of a `Result` (the
/// planner's, the inbound policy's); the few that are successes (a login's redirect, a
/// logout's confirmation, `AnswerCode.isError`) are sent the same way but never logged as
/// errors.
struct GatewayAnswer: Error, Sendable {
    var code: AnswerCode
    var detail: String
    var route: String?
    /// Extra fields for the JSON body (`credential` names a profile).
    var fields: [(key: String, value: String)]
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`, `Location`).
    var headers: [(name: String, value: String)]
    /// A page for a person, sent as `text/html` instead of the JSON body (the logout
    /// confirmation). Written by the gateway; anything in it from a request is escaped.
    var page: String?

    /// `detail` defaults to the code's own sentence (`AnswerCode.detail`).
    init(
        _ code: AnswerCode, detail: String? = nil, route: String? = nil, fields: [(key: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], page: String? = nil
    ) {
        self.code = code
        self.detail = detail ?? code.detail
        self.route = route
        self.fields = fields
        self.headers = headers
        self.page = page
    }

    /// The status, as the catalogue gives it for the code.
    var status: HTTPResponseStatus { code.status }

    static func badRequest(_ detail: String) -> GatewayAnswer {
        GatewayAnswer(.badRequest, detail: detail)
    }

    static func headersTooLarge(_ detail: String) -> GatewayAnswer {
        GatewayAnswer(.headersTooLarge, detail: detail)
    }

    static func bodyTooLarge(route: String, limit: Int) -> GatewayAnswer {
        GatewayAnswer(.bodyTooLarge, detail: "request body is larger than \(limit) bytes", route: route)
    }

    /// The body's media type: JSON, or HTML for a `page`.
    var contentType: String {
        page == nil ? "application/json" : "text/html; charset=utf-8"
    }

    /// The JSON body (or the `page`) as text, ending in a newline.
    var bodyText: String {
        if let page { return page }
        var json = "{\"error\":\(JSONText.quote(code.rawValue))"
        if let route { json += ",\"route\":\(JSONText.quote(route))" }
        for field in fields { json += ",\(JSONText.quote(field.key)):\(JSONText.quote(field.value))" }
        json += ",\"detail\":\(JSONText.quote(detail))}\n"
        return json
    }

    /// The JSON body (or the `page`).
    func body(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(string: bodyText)
    }

    /// The response head for this answer; `keepAlive` false adds `Connection: close`.
    func head(version: HTTPVersion, contentLength: Int, keepAlive: Bool) -> HTTPResponseHead {
        RenderedAnswer.responseHead(
            status: status, contentType: contentType, contentLength: contentLength, headers: headers, version: version, keepAlive: keepAlive
        )
    }

    /// This answer as it goes out to a request with `method` (see `RenderedAnswer`).
    func rendered(version: HTTPVersion, keepAlive: Bool, method: HTTPMethod, allocator: ByteBufferAllocator) -> RenderedAnswer {
        RenderedAnswer(
            status: status, contentType: contentType, body: body(allocator: allocator), headers: headers,
            version: version, keepAlive: keepAlive, method: method
        )
    }
}
