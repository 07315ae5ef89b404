import NIOHTTP1

/// What a header field means to the gateway. Classified once per field, by length first
/// and then a case-insensitive compare, so the hot path never lower-cases or hashes names.
enum HeaderKind {
    case host, contentLength, transferEncoding, connection, expect, authorization
    /// Hop-by-hop (RFC 9110 §7.6.1) other than those above: never forwarded either way.
    case hopByHop
    case xForwardedFor, xForwardedProto, xForwardedHost
    /// `Forwarded`, `X-Forwarded-Port`, `X-Real-IP`: kept only from trusted proxies.
    case otherForwarding
    /// `X-Request-Id`: kept when well-formed, otherwise replaced by one the gateway makes.
    case requestID
    case other

    static func of(_ name: String) -> HeaderKind {
        let utf8 = name.utf8
        switch utf8.count {
        case 2: if name.caseInsensitiveEquals("te") { return .hopByHop }
        case 4: if name.caseInsensitiveEquals("host") { return .host }
        case 6: if name.caseInsensitiveEquals("expect") { return .expect }
        case 7:
            if name.caseInsensitiveEquals("trailer") || name.caseInsensitiveEquals("upgrade") { return .hopByHop }
        case 9:
            if name.caseInsensitiveEquals("forwarded") || name.caseInsensitiveEquals("x-real-ip") { return .otherForwarding }
        case 12: if name.caseInsensitiveEquals("x-request-id") { return .requestID }
        case 10:
            if name.caseInsensitiveEquals("connection") { return .connection }
            if name.caseInsensitiveEquals("keep-alive") { return .hopByHop }
        case 13: if name.caseInsensitiveEquals("authorization") { return .authorization }
        case 14: if name.caseInsensitiveEquals("content-length") { return .contentLength }
        case 15: if name.caseInsensitiveEquals("x-forwarded-for") { return .xForwardedFor }
        case 16:
            if name.caseInsensitiveEquals("x-forwarded-host") { return .xForwardedHost }
            if name.caseInsensitiveEquals("x-forwarded-port") { return .otherForwarding }
        case 17:
            if name.caseInsensitiveEquals("transfer-encoding") { return .transferEncoding }
            if name.caseInsensitiveEquals("x-forwarded-proto") { return .xForwardedProto }
        default: break
        }
        // Proxy-Connection, Proxy-Authorization, Proxy-Authenticate and the rest of Proxy-*.
        if utf8.count > 6, utf8.prefix(6).elementsEqual("proxy-".utf8, by: { $0 | 0x20 == $1 }) { return .hopByHop }
        return .other
    }
}

/// The facts the gateway needs from a request's header fields, gathered in one pass.
struct RequestHeaderScan {
    /// The first `Host` value and how many `Host` fields there were.
    var host: String?
    var hostCount = 0
    /// The first `Content-Length` value (of possibly comma-separated ones), and whether
    /// every other value agreed with it.
    var contentLength: String?
    var contentLengthsAgree = true
    var transferCodings: [String] = []
    /// Lower-cased field names listed in `Connection` (minus ones it may not remove).
    var connectionTokens: [String] = []
    var connectionClose = false
    var connectionKeepAlive = false
    var expectsContinue = false
    var forwardedFor: [String] = []
    var forwardedProto: String?
    var forwardedHost: String?
    var authorization: [String] = []
    /// The first `X-Request-Id` value.
    var requestID: String?

    /// Fields a `Connection` header may not make the gateway drop: removing them would
    /// break framing or routing rather than remove a hop-by-hop extension.
    static let protectedFromConnectionList: Set<String> = ["content-length", "host"]

    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            switch HeaderKind.of(name) {
            case .host:
                hostCount += 1
                if host == nil { host = value }
            case .contentLength:
                // Plain values are the common case: no splitting, no allocation.
                let values = value.utf8.contains(UInt8(ascii: ",")) ? Self.commaSeparated(value) : [value]
                for length in values {
                    if let first = contentLength { contentLengthsAgree = contentLengthsAgree && first == length } else { contentLength = length }
                }
            case .transferEncoding: transferCodings.append(contentsOf: Self.commaSeparated(value))
            case .connection:
                for token in Self.commaSeparated(value) {
                    let lowered = token.lowercased()
                    if lowered == "close" { connectionClose = true } else if lowered == "keep-alive" { connectionKeepAlive = true }
                    if !Self.protectedFromConnectionList.contains(lowered) { connectionTokens.append(lowered) }
                }
            case .expect: if value.caseInsensitiveEquals("100-continue") { expectsContinue = true }
            case .xForwardedFor: forwardedFor.append(value)
            case .xForwardedProto: forwardedProto = forwardedProto ?? value
            case .xForwardedHost: forwardedHost = forwardedHost ?? value
            case .authorization: authorization.append(value)
            case .requestID: requestID = requestID ?? value
            case .hopByHop, .otherForwarding, .other: break
            }
        }
    }

    /// Whether the client wants the connection kept open (RFC 9112 §9.3).
    func keepAlive(version: HTTPVersion) -> Bool {
        version.major == 1 && version.minor >= 1 ? !connectionClose : connectionKeepAlive
    }

    /// Whether `name` is listed in this message's `Connection` header.
    func isConnectionListed(_ name: String) -> Bool {
        !connectionTokens.isEmpty && connectionTokens.contains { $0.caseInsensitiveEquals(name) }
    }

    static func commaSeparated(_ value: String) -> [String] {
        guard value.utf8.contains(UInt8(ascii: ",")) else {
            return [trimmed(Substring(value))]
        }
        return value.split(separator: ",").map(trimmed).filter { !$0.isEmpty }
    }

    private static func trimmed(_ text: Substring) -> String {
        var view = text
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}

extension String {
    /// ASCII case-insensitive equality, without allocating.
    @inline(__always)
    func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        return utf8.elementsEqual(other.utf8) { a, b in
            a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z"))
        }
    }
}

/// How an upstream response head becomes the client's.
enum ResponseRules {
    /// Strips hop-by-hop fields (and those `Connection` names), sets framing and
    /// `Connection` for this client. May turn off keep-alive on the exchange (an HTTP/1.0
    /// client and a body of unknown length can only be delimited by closing).
    static func clientHead(from upstream: HTTPResponseHead, exchange: Exchange) -> HTTPResponseHead {
        var listed: [String] = []
        var hasLength = false
        var needsCopy = false
        for (name, value) in upstream.headers {
            switch HeaderKind.of(name) {
            case .connection:
                needsCopy = true
                listed += RequestHeaderScan.commaSeparated(value).map { $0.lowercased() }
            case .transferEncoding, .hopByHop:
                needsCopy = true
            case .contentLength:
                hasLength = true
            default:
                break
            }
        }
        var headers: HTTPHeaders
        if needsCopy {
            headers = HTTPHeaders()
            headers.reserveCapacity(upstream.headers.count + 2)
            for (name, value) in upstream.headers {
                switch HeaderKind.of(name) {
                case .connection, .transferEncoding, .hopByHop: continue
                case .contentLength, .host: break
                default: if !listed.isEmpty, listed.contains(where: { $0.caseInsensitiveEquals(name) }) { continue }
                }
                headers.add(name: name, value: value)
            }
        } else {
            headers = upstream.headers
        }
        let status = upstream.status.code
        let bodyless = exchange.method == .HEAD || (100..<200).contains(status) || status == 204 || status == 304
        if !bodyless && !hasLength {
            if exchange.clientVersion == .http1_1 {
                headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                exchange.clientKeepAlive = false
            }
        }
        if !exchange.clientKeepAlive {
            headers.add(name: "Connection", value: "close")
        } else if exchange.clientVersion == .http1_0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        return HTTPResponseHead(version: .http1_1, status: upstream.status, headers: headers)
    }
}
