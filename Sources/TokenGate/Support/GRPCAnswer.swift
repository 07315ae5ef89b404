import NIOHTTP1

/// The gateway's own answer as a gRPC client takes it: HTTP 200, no body, and the outcome
/// in `grpc-status` and `grpc-message` (a "trailers-only" response, one HEADERS frame on
/// HTTP/2). A gRPC client reads nothing else: a JSON body would be a malformed message.
///
/// Status codes follow gRPC's HTTP mapping (doc/http-grpc-status-mapping.md), made more
/// precise where the gateway knows more: a timeout is DEADLINE_EXCEEDED, a size limit
/// RESOURCE_EXHAUSTED. `grpc-message` is the answer's code and sentence, percent-encoded
/// as the gRPC wire format asks (every byte outside printable ASCII, and `%`).
enum GRPCAnswer {
    /// Whether a request is a gRPC call (`content-type: application/grpc`, `+proto`, …).
    static func isGRPC(_ headers: HTTPHeaders) -> Bool {
        guard let type = headers.first(name: "content-type") else { return false }
        let lower = type.lowercased()
        return lower == "application/grpc" || lower.hasPrefix("application/grpc+") || lower.hasPrefix("application/grpc;")
    }

    /// The gRPC status for an HTTP status of the gateway's.
    static func status(for http: HTTPResponseStatus) -> Int {
        switch http.code {
        case 401: return 16  // UNAUTHENTICATED
        case 403: return 7  // PERMISSION_DENIED
        case 404, 405: return 12  // UNIMPLEMENTED
        case 408, 504: return 4  // DEADLINE_EXCEEDED
        case 413, 431: return 8  // RESOURCE_EXHAUSTED
        case 400: return 13  // INTERNAL (gRPC's mapping: a malformed call)
        case 429, 502, 503: return 14  // UNAVAILABLE
        case 500: return 13  // INTERNAL
        default: return 2  // UNKNOWN
        }
    }

    /// The response head: `200`, `content-type: application/grpc`, the status and message,
    /// and the answer's own fields (`WWW-Authenticate`, `Retry-After`).
    static func head(for answer: GatewayAnswer) -> HTTPResponseHead {
        var fields = HTTPHeaders()
        fields.add(name: "content-type", value: "application/grpc")
        fields.add(name: "grpc-status", value: String(status(for: answer.status)))
        fields.add(name: "grpc-message", value: percentEncoded("\(answer.code.rawValue): \(answer.detail)"))
        for header in answer.headers { fields.add(name: header.name, value: header.value) }
        return HTTPResponseHead(version: .http2, status: .ok, headers: fields)
    }

    /// gRPC's `Percent-Byte-Unencoded`: printable ASCII but `%` as is, every other byte `%XX`.
    static func percentEncoded(_ text: String) -> String {
        let hex: [Character] = Array("0123456789ABCDEF")
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out.append("%")
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }
}
