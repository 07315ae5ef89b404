import NIOHTTP1

/// What the gateway decided to do with one request head: the route, the head the
/// upstream will receive, and the facts the exchange needs about framing.
struct ForwardPlan {
    let route: ProxyRoute
    var upstreamHead: HTTPRequestHead
    /// Declared body length, when framed by `Content-Length`.
    let contentLength: Int?
    /// The body is chunked (length unknown up front).
    let isChunked: Bool
    /// The client sent `Expect: 100-continue`.
    let expectsContinue: Bool
    /// The client wants the connection kept open after this exchange.
    let clientKeepAlive: Bool
    /// Safe to send again on a fresh connection if a pooled one turns out to be dead:
    /// an idempotent method without a body.
    let isReplayable: Bool

    var hasBody: Bool { isChunked || (contentLength ?? 0) > 0 }
}

/// Checks a request head and turns it into a `ForwardPlan`, refusing anything hostile or
/// ambiguous before a byte reaches an upstream.
struct RequestPlanner {
    let listener: ListenerConfig
    let router: Router

    /// The peer's address as seen on the socket, for `X-Forwarded-For` and trust decisions.
    func plan(_ head: HTTPRequestHead, peer: IPAddress?) -> Result<ForwardPlan, GatewayError> {
        if head.method == .CONNECT {
            return .failure(GatewayError(status: .methodNotAllowed, code: "method_not_allowed", detail: "CONNECT is not supported"))
        }
        if head.headers.count > listener.maxHeaderCount {
            return .failure(.headersTooLarge("more than \(listener.maxHeaderCount) header fields"))
        }
        let framing: (contentLength: Int?, chunked: Bool)
        switch Self.framing(head) {
        case .success(let value): framing = value
        case .failure(let error): return .failure(error)
        }
        let authority: String
        switch Self.authority(head) {
        case .success(let value): authority = value
        case .failure(let error): return .failure(error)
        }
        guard let hostName = Self.hostName(authority) else {
            return .failure(.badRequest("invalid Host header"))
        }
        var uri = head.uri
        if let absolute = Self.originForm(ofAbsolute: uri) { uri = absolute.path }
        guard let target = RequestPath.parseTarget(uri) else {
            return .failure(.badRequest("invalid request path"))
        }
        guard let route = router.route(host: hostName, path: target.path) else {
            return .failure(.notFound())
        }
        if let length = framing.contentLength, length > route.config.maxBodyBytes {
            return .failure(.bodyTooLarge(route: route.name, limit: route.config.maxBodyBytes))
        }

        var upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: route.upstreamPath(for: target.path))
        if let query = target.query { upstreamHead.uri += "?" + query }
        var headers = head.headers
        HeaderRules.removeHopByHop(&headers)
        headers.remove(name: "expect")
        headers.remove(name: "host")
        let trusted = peer.map { address in listener.trustedProxies.contains { $0.contains(address) } } ?? false
        let forwardedFor = trusted ? headers["x-forwarded-for"].joined(separator: ", ") : ""
        let forwardedProto = trusted ? headers.first(name: "x-forwarded-proto") : nil
        let forwardedHost = trusted ? headers.first(name: "x-forwarded-host") : nil
        // From an untrusted peer every forwarding field is a forgery; from a trusted one the
        // three the gateway sets are rebuilt below from the values it received.
        for name in HeaderRules.forwardingFields where !trusted || HeaderRules.rebuiltForwardingFields.contains(name) {
            headers.remove(name: name)
        }
        headers.add(name: "Host", value: route.config.preserveHost ? authority : route.config.upstream.authority)
        let peerText = peer?.description ?? "unknown"
        headers.add(name: "X-Forwarded-For", value: forwardedFor.isEmpty ? peerText : forwardedFor + ", " + peerText)
        headers.add(name: "X-Forwarded-Proto", value: forwardedProto ?? "http")
        headers.add(name: "X-Forwarded-Host", value: forwardedHost ?? authority)
        if framing.chunked { headers.add(name: "Transfer-Encoding", value: "chunked") }
        upstreamHead.headers = headers

        let expectsContinue = head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
        let idempotent: [HTTPMethod] = [.GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE]
        return .success(ForwardPlan(
            route: route,
            upstreamHead: upstreamHead,
            contentLength: framing.contentLength,
            isChunked: framing.chunked,
            expectsContinue: expectsContinue && head.version == .http1_1,
            clientKeepAlive: head.isKeepAlive,
            isReplayable: idempotent.contains(head.method) && !framing.chunked && (framing.contentLength ?? 0) == 0
        ))
    }

    /// Body framing per RFC 9112 §6: refuses requests whose length two parsers could read
    /// differently (the basis of request smuggling).
    static func framing(_ head: HTTPRequestHead) -> Result<(contentLength: Int?, chunked: Bool), GatewayError> {
        let lengths = head.headers[canonicalForm: "content-length"]
        let codings = head.headers[canonicalForm: "transfer-encoding"]
        if !codings.isEmpty {
            if !lengths.isEmpty {
                return .failure(.badRequest("both Content-Length and Transfer-Encoding are present"))
            }
            guard head.version == .http1_1 else {
                return .failure(.badRequest("Transfer-Encoding is not allowed in HTTP/1.0"))
            }
            guard codings.count == 1, codings[0].lowercased() == "chunked" else {
                return .failure(.badRequest("only Transfer-Encoding: chunked is supported"))
            }
            return .success((nil, true))
        }
        guard let first = lengths.first else { return .success((nil, false)) }
        guard lengths.allSatisfy({ $0 == first }), first.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              first.utf8.count <= 18, let length = Int(first) else {
            return .failure(.badRequest("conflicting or invalid Content-Length"))
        }
        return .success((length, false))
    }

    /// The request's authority: the Host header, which must be present once (HTTP/1.1) and
    /// agree with an absolute-form target's authority.
    static func authority(_ head: HTTPRequestHead) -> Result<String, GatewayError> {
        let hosts = head.headers["host"]
        if hosts.count > 1 { return .failure(.badRequest("more than one Host header")) }
        let absolute = originForm(ofAbsolute: head.uri)
        if let host = hosts.first {
            if let absolute, !absolute.authority.caseInsensitiveEquals(host) {
                return .failure(.badRequest("Host header disagrees with the request target"))
            }
            return .success(host)
        }
        if let absolute { return .success(absolute.authority) }
        if head.version == .http1_0 { return .success("") }
        return .failure(.badRequest("missing Host header"))
    }

    /// Splits `http://authority/path` into its authority and origin-form path.
    static func originForm(ofAbsolute uri: String) -> (authority: String, path: String)? {
        let lower = uri.prefix(8).lowercased()
        let schemeLength: Int
        if lower.hasPrefix("http://") { schemeLength = 7 } else if lower.hasPrefix("https://") { schemeLength = 8 } else { return nil }
        let rest = uri.dropFirst(schemeLength)
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var path = String(rest[slash...])
        if !path.hasPrefix("/") { path = "/" + path }
        return (String(rest[..<slash]), path)
    }

    /// The lower-case host without port; nil when the Host value is not a valid authority.
    /// An empty Host (HTTP/1.0 without one) is "".
    static func hostName(_ authority: String) -> String? {
        if authority.isEmpty { return "" }
        var host = Substring(authority)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            guard after.isEmpty || (after.hasPrefix(":") && after.dropFirst().allSatisfy(\.isASCIIDigit)) else { return nil }
            host = host[host.index(after: host.startIndex)..<close]
            guard IPAddress(String(host)) != nil else { return nil }
            return host.lowercased()
        }
        if let colon = host.firstIndex(of: ":") {
            let port = host[host.index(after: colon)...]
            guard port.allSatisfy(\.isASCIIDigit), port.count <= 5 else { return nil }
            host = host[..<colon]
        }
        guard !host.isEmpty, host.utf8.allSatisfy({ byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_")
        }) else { return nil }
        return host.lowercased()
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
