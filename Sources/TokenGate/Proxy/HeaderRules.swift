import NIOHTTP1

/// What a header field means to the gateway. Classified once per field, by length first
/// and then a case-insensitive compare, so the hot path never lower-cases or hashes names.
enum HeaderKind {
    case host, contentLength, transferEncoding, connection, expect, authorization
    /// Hop-by-hop (RFC 9110 §7.6.1) other than those above: never forwarded either way.
    case hopByHop
    case xForwardedFor, xForwardedProto, xForwardedHost
    /// `Forwarded`, `X-Forwarded-Port`, `X-Real-IP` and the non-standard client-address and
    /// URL-override fields (`X-Original-URL`, `True-Client-IP`, …): kept only from trusted proxies.
    case otherForwarding
    /// A forwarding field spelled with `_` (`X_Forwarded_For`): some servers read it as the
    /// real one; never forwarded.
    case forwardingAlias
    /// `Upgrade` (hop-by-hop, but read to decide on a WebSocket tunnel).
    case upgrade
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
            if name.caseInsensitiveEquals("upgrade") { return .upgrade }
            if name.caseInsensitiveEquals("trailer") { return .hopByHop }
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
        return forwardingKind(name)
    }

    /// Fields that name the client's address or override the request URL on some server
    /// or framework (Spring, IIS, Symfony, Akamai, Cloudflare): only a trusted proxy may set them.
    static let clientAddressAndURLOverrides: [String] = [
        "x-original-url", "x-rewrite-url", "x-original-uri", "true-client-ip", "x-client-ip", "x-cluster-client-ip",
        "cf-connecting-ip", "fastly-client-ip", "x-originating-ip", "x-remote-ip", "x-remote-addr", "x-host",
        "x-forwarded-server", "x-forwarded-scheme", "x-forwarded-ssl", "x-forwarded-prefix", "x-real-ip", "forwarded",
        "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
    ]

    /// `clientAddressAndURLOverrides` by length, so a name is compared with the few of its length only.
    private static let overridesByLength: [[String]] = {
        var table = [[String]](repeating: [], count: 24)
        for name in clientAddressAndURLOverrides where name.utf8.count < table.count { table[name.utf8.count].append(name) }
        return table
    }()

    /// `.otherForwarding` for a forwarding or override field, `.forwardingAlias` for one
    /// spelled with `_`, else `.other`. Every such name starts with x, t, c or f, which
    /// turns most names away after one byte.
    private static func forwardingKind(_ name: String) -> HeaderKind {
        let utf8 = name.utf8
        guard let first = utf8.first.map({ $0 | 0x20 }),
              first == UInt8(ascii: "x") || first == UInt8(ascii: "t") || first == UInt8(ascii: "c") || first == UInt8(ascii: "f"),
              utf8.count < overridesByLength.count else { return .other }
        for candidate in overridesByLength[utf8.count] {
            var alias = false
            let matches = utf8.elementsEqual(candidate.utf8) { byte, expected in
                if byte == UInt8(ascii: "_") && expected == UInt8(ascii: "-") {
                    alias = true
                    return true
                }
                return (byte >= 65 && byte <= 90 ? byte | 0x20 : byte) == expected
            }
            if matches { return alias ? .forwardingAlias : .otherForwarding }
        }
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
    /// `Connection` lists `upgrade`.
    var connectionUpgrade = false
    /// The `Upgrade` protocols offered, in order.
    var upgrade: [String] = []
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
                    if lowered == "upgrade" { connectionUpgrade = true }
                    if !Self.protectedFromConnectionList.contains(lowered) { connectionTokens.append(lowered) }
                }
            case .expect: if value.caseInsensitiveEquals("100-continue") { expectsContinue = true }
            case .xForwardedFor: forwardedFor.append(value)
            case .xForwardedProto: forwardedProto = forwardedProto ?? value
            case .xForwardedHost: forwardedHost = forwardedHost ?? value
            case .authorization: authorization.append(value)
            case .requestID: requestID = requestID ?? value
            case .upgrade: upgrade.append(contentsOf: Self.commaSeparated(value))
            case .hopByHop, .otherForwarding, .forwardingAlias, .other: break
            }
        }
    }

    /// Whether NIO's decoder treats the request as an upgrade and stops parsing after it
    /// (llhttp: `Upgrade` together with `Connection: upgrade`).
    var endsParsing: Bool { connectionUpgrade && !upgrade.isEmpty }

    /// The request offers a WebSocket upgrade (RFC 6455 §4.1), the one upgrade forwarded.
    /// h2c and anything else is not: the request is served as plain HTTP/1.1.
    var offersWebSocket: Bool {
        endsParsing && upgrade.contains { $0.caseInsensitiveEquals("websocket") }
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
    /// The client's head, and what the exchange must do to frame the body.
    struct ClientHead {
        var head: HTTPResponseHead
        /// The gateway writes chunk framing itself (a coding other than chunked is kept).
        var framesChunksItself = false
        /// The body can only be delimited by closing the connection.
        var delimitedByClose = false
    }

    /// Strips hop-by-hop fields (and those `Connection` names) and sets framing for this
    /// client (`setConnection` adds `Connection` once keep-alive is decided). A `101` keeps `Upgrade` and `Connection: upgrade`.
    /// Transfer codings other than chunked (`gzip, chunked`) are kept in order, so the
    /// client decodes what the upstream encoded; an HTTP/1.0 client cannot receive them
    /// and the answer is nil (the gateway answers 502).
    static func clientHead(from upstream: HTTPResponseHead, method: HTTPMethod, clientVersion: HTTPVersion) -> ClientHead? {
        let switching = upstream.status == .switchingProtocols
        var listed: [String] = []
        var hasLength = false
        var needsCopy = false
        var codings: [String] = []
        for (name, value) in upstream.headers {
            switch HeaderKind.of(name) {
            case .connection:
                needsCopy = true
                listed += RequestHeaderScan.commaSeparated(value).map { $0.lowercased() }
            case .transferEncoding:
                needsCopy = true
                codings += RequestHeaderScan.commaSeparated(value).filter { !$0.caseInsensitiveEquals("chunked") }
            case .hopByHop, .upgrade:
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
                case .upgrade: if !switching { continue }
                case .contentLength, .host: break
                default: if !listed.isEmpty, listed.contains(where: { $0.caseInsensitiveEquals(name) }) { continue }
                }
                headers.add(name: name, value: value)
            }
        } else {
            headers = upstream.headers
        }
        var result = ClientHead(head: HTTPResponseHead(version: .http1_1, status: upstream.status, headers: headers))
        if switching {
            result.head.headers.add(name: "Connection", value: "upgrade")
            return result
        }
        let status = upstream.status.code
        let bodyless = method == .HEAD || (100..<200).contains(status) || status == 204 || status == 304
        if !codings.isEmpty && !bodyless {
            guard clientVersion == .http1_1 else { return nil }
            // The length, if any, is of the encoded body before chunking: not the client's.
            result.head.headers.remove(name: "Content-Length")
            result.head.headers.add(name: "Transfer-Encoding", value: (codings + ["chunked"]).joined(separator: ", "))
            result.framesChunksItself = true
        } else if !bodyless && !hasLength {
            if clientVersion == .http1_1 {
                result.head.headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                result.delimitedByClose = true
            }
        }
        return result
    }

    /// Tells the client whether the connection stays open after this response.
    static func setConnection(_ head: inout HTTPResponseHead, keepAlive: Bool, clientVersion: HTTPVersion) {
        if !keepAlive {
            head.headers.add(name: "Connection", value: "close")
        } else if clientVersion == .http1_0 {
            head.headers.add(name: "Connection", value: "keep-alive")
        }
    }
}
