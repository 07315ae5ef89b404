import NIOCore
import NIOHTTP1

/// Checks a request head and turns it into a `ForwardPlan`, refusing anything hostile or
/// ambiguous before a byte reaches an upstream. One per listener per snapshot (a class, so
/// a request takes a reference rather than copying the listener's settings).
final class RequestPlanner: Sendable {
    let listener: ListenerConfig
    let router: Router
    /// Identity header names the gateway sets anywhere: never taken from a client.
    let identityNames: IdentityHeaderNames
    /// With browser login configured: the gateway's cookies, kept from every upstream (a
    /// browser sends them to every path of the site, login route or not).
    let loginCookies: LoginCookies.Names?

    init(listener: ListenerConfig, router: Router, identityNames: IdentityHeaderNames = IdentityHeaderNames(), loginCookies: LoginCookies.Names? = nil) {
        self.listener = listener
        self.router = router
        self.identityNames = identityNames
        self.loginCookies = loginCookies
    }

    /// Plans one request. `peer` is the address seen on the socket (for trust decisions)
    /// and `peerText` its printed form (for `X-Forwarded-For`), computed once per connection;
    /// `requestIDs` makes an id when the client sent no usable `X-Request-Id`;
    /// `clientCertificate`, the verified client certificate, becomes identity headers.
    func plan(_ head: HTTPRequestHead, peer: IPAddress?, peerText: String, requestIDs: inout RequestIDGenerator,
              allocator: ByteBufferAllocator, clientCertificate: ClientCertificateIdentity? = nil) -> Result<ForwardPlan, GatewayAnswer> {
        if head.method == .CONNECT || head.method == .TRACE || Self.isTraceOrConnect(head.method) {
            // CONNECT would make the gateway an open tunnel; TRACE echoes the request, injected
            // credential included, to whoever sent it (cross-site tracing).
            return .failure(GatewayAnswer(
                .methodNotAllowed, detail: "\(head.method.rawValue) is not supported",
                headers: [("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")]
            ))
        }
        if head.headers.count > listener.maxHeaderCount {
            return .failure(.headersTooLarge("more than \(listener.maxHeaderCount) header fields"))
        }
        let scan = RequestHeaderScan(head.headers)
        let framing: (contentLength: Int?, chunked: Bool)
        switch Self.framing(scan, version: head.version) {
        case .success(let value): framing = value
        case .failure(let error): return .failure(error)
        }
        let authority: String
        switch Self.authority(scan, head) {
        case .success(let value): authority = value
        case .failure(let error): return .failure(error)
        }
        guard let hostName = Self.hostName(authority) else {
            return .failure(.badRequest("invalid Host header"))
        }
        var uri = head.uri
        if let absolute = Self.originForm(ofAbsolute: uri) { uri = absolute.path }
        guard let target = RequestPath.parseTarget(uri) else {
            // `/admin;x/users` is `/admin/users` to Tomcat and Spring but not to a prefix
            // match: what the router sees must be what the upstream serves.
            if RequestPath.hasPathParameters(uri) { return .failure(.badRequest("path parameters (\";\") are not accepted")) }
            return .failure(.badRequest("invalid request path"))
        }
        guard let route = router.route(host: hostName, path: target.path) else {
            return .failure(GatewayAnswer(.noRoute))
        }
        if let length = framing.contentLength, length > route.config.maxBodyBytes {
            return .failure(.bodyTooLarge(route: route.name, limit: route.config.maxBodyBytes))
        }

        var upstreamURI = route.upstreamPath(for: target.path)
        if let query = target.query { upstreamURI += "?" + RequestPath.escapedQuery(query) }
        // Only a well-formed WebSocket handshake is forwarded as an upgrade (the key is read
        // only then: upgrades are rare).
        let webSocket = scan.offersWebSocket && head.version == .http1_1 && head.method == .GET
            ? WebSocketHandshake(requestHeaders: head.headers) : nil
        let mayUpgrade = webSocket != nil
        // One pass over the client's fields: drop hop-by-hop ones and those `Connection`
        // names, drop forwarding fields (rebuilt below; from an untrusted peer all of them
        // are forgeries), and keep the rest in order.
        let trusted = peer.map { address in listener.trustedProxies.contains { $0.contains(address) } } ?? false
        var out = HTTPHeadBuilder(capacity: 512 + upstreamURI.utf8.count, allocator: allocator)
        out.requestLine(method: head.method, target: upstreamURI)
        for (name, value) in head.headers {
            switch HeaderKind.of(name) {
            case .hopByHop:
                // `te: trailers` is end-to-end for HTTP/2 (gRPC requires it): kept for an
                // HTTP/2 upstream, which accepts no other TE value.
                if route.endpoint.key.http2, name.count == 2, value.lowercased() == "trailers" { break }
                continue
            case .host, .contentLength, .transferEncoding, .connection, .expect, .upgrade,
                 .xForwardedFor, .xForwardedProto, .xForwardedHost, .requestID, .forwardingAlias:
                continue
            case .otherForwarding:
                if !trusted { continue }
            case .authorization:
                // Replaced by an injected credential; withheld from the upstream on a validating
                // route unless it asks for it.
                if let credentialHeader = route.credentialHeaderName, name.caseInsensitiveEquals(credentialHeader) { continue }
                if let validation = route.validation, !validation.rules.forwardAuthorization { continue }
            case .other:
                if scan.isConnectionListed(name) { continue }
                if let loginCookies, name.caseInsensitiveEquals("cookie") {
                    // No app ever sees the gateway's cookies.
                    if let kept = loginCookies.strip(value) { out.field(name, kept) }
                    continue
                }
                if let credentialHeader = route.credentialHeaderName, name.caseInsensitiveEquals(credentialHeader) { continue }
                // Identity headers come only from the gateway, never from the client, on any route.
                if identityNames.isLookalike(name) { continue }
            }
            out.field(name, value)
        }
        out.field("Host", route.config.preserveHost ? authority : route.upstreamAuthority)
        let chain = trusted && !scan.forwardedFor.isEmpty ? scan.forwardedFor.joined(separator: ", ") : ""
        out.field("X-Forwarded-For", chain.isEmpty ? peerText : chain + ", " + peerText)
        if trusted, let proto = scan.forwardedProto {
            out.field("X-Forwarded-Proto", proto)
        } else {
            out.fixedLine(listener.tls != nil ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n")
        }
        out.field("X-Forwarded-Host", (trusted ? scan.forwardedHost : nil) ?? authority)
        let requestID = scan.requestID.flatMap { RequestIDGenerator.isAcceptable($0) ? $0 : nil } ?? requestIDs.next()
        out.field("X-Request-Id", requestID)
        if let clientCertificate {
            out.field(ClientCertificateIdentity.subjectHeader, clientCertificate.subject)
            if !clientCertificate.subjectAlternativeNames.isEmpty {
                out.field(ClientCertificateIdentity.namesHeader, clientCertificate.subjectAlternativeNames)
            }
            out.field(ClientCertificateIdentity.fingerprintHeader, clientCertificate.fingerprint)
        }
        if mayUpgrade {
            out.fixedLine("Connection: upgrade\r\n")
            out.fixedLine("Upgrade: websocket\r\n")
        }
        if let length = framing.contentLength {
            out.numericField("Content-Length", length)
        } else if framing.chunked {
            out.fixedLine("Transfer-Encoding: chunked\r\n")
        }
        guard out.isValid else {
            return .failure(.badRequest("the request head is not valid (\(out.problem ?? "unknown"))"))
        }

        let idempotent = head.method == .GET || head.method == .HEAD || head.method == .OPTIONS
            || head.method == .TRACE || head.method == .PUT || head.method == .DELETE
        var plan = ForwardPlan(
            route: route,
            upstreamHead: out.buffer,
            contentLength: framing.contentLength,
            isChunked: framing.chunked,
            expectsContinue: scan.expectsContinue && head.version == .http1_1,
            clientKeepAlive: scan.keepAlive(version: head.version),
            isReplayable: idempotent && !framing.chunked && (framing.contentLength ?? 0) == 0,
            bearer: route.validation == nil ? .absent
                : BearerCredential.extract(authorization: scan.authorization, queryHasAccessToken: BearerCredential.queryHasAccessToken(target.query)),
            requestID: requestID,
            endsParsing: scan.endsParsing,
            webSocket: webSocket
        )
        plan.loginCookies = loginCookies
        if let login = route.login {
            plan.login = LoginRequest(
                head: head, path: target.path, query: target.query, authority: authority,
                // On a TLS listener the client is on https, whatever a header says.
                forwardedProto: listener.tls != nil ? "https" : (trusted ? scan.forwardedProto : nil), login: login
            )
        }
        return .success(plan)
    }

    /// `TRACK`, and `connect`, `trace` or `track` in any case (HTTP/2's `:method` is not
    /// checked for case by NIO, and some upstreams compare methods without it).
    static func isTraceOrConnect(_ method: HTTPMethod) -> Bool {
        guard case .RAW(let name) = method, name.utf8.count == 5 || name.utf8.count == 7 else { return false }
        let upper = name.uppercased()
        return upper == "TRACK" || upper == "TRACE" || upper == "CONNECT"
    }

    /// Body framing per RFC 9112 §6: refuses requests whose length two parsers could read
    /// differently (the basis of request smuggling).
    static func framing(_ scan: RequestHeaderScan, version: HTTPVersion) -> Result<(contentLength: Int?, chunked: Bool), GatewayAnswer> {
        let codings = scan.transferCodings
        if !codings.isEmpty {
            if scan.contentLength != nil {
                return .failure(.badRequest("both Content-Length and Transfer-Encoding are present"))
            }
            // From an HTTP/2 stream, `chunked` is `HTTP2StreamCodec`'s mark of a body of
            // unknown length (the connection refuses the field from a client).
            guard version == .http1_1 || version == .http2 else {
                return .failure(.badRequest("Transfer-Encoding is not allowed in HTTP/1.0"))
            }
            guard codings.count == 1, codings[0].caseInsensitiveEquals("chunked") else {
                return .failure(.badRequest("only Transfer-Encoding: chunked is supported"))
            }
            return .success((nil, true))
        }
        guard let first = scan.contentLength else { return .success((nil, false)) }
        guard scan.contentLengthsAgree, !first.isEmpty, first.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              first.utf8.count <= 18, let length = Int(first) else {
            return .failure(.badRequest("conflicting or invalid Content-Length"))
        }
        return .success((length, false))
    }

    /// What a refused request's head says about the connection, from one scan of its
    /// fields: whether it declares a body (a request whose framing is itself invalid counts
    /// as one), and whether NIO's decoder stops parsing after it (an upgrade, or CONNECT).
    static func refusalFacts(_ head: HTTPRequestHead) -> (hasBody: Bool, endsParsing: Bool) {
        let scan = RequestHeaderScan(head.headers)
        let hasBody: Bool
        switch framing(scan, version: head.version) {
        case .success(let value): hasBody = value.chunked || (value.contentLength ?? 0) > 0
        case .failure: hasBody = true
        }
        return (hasBody, head.method == .CONNECT || scan.endsParsing)
    }

    /// The request's authority: the Host header, which must be present once (HTTP/1.1) and
    /// agree with an absolute-form target's authority.
    static func authority(_ scan: RequestHeaderScan, _ head: HTTPRequestHead) -> Result<String, GatewayAnswer> {
        if scan.hostCount > 1 { return .failure(.badRequest("more than one Host header")) }
        let absolute = originForm(ofAbsolute: head.uri)
        if let host = scan.host {
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
        // Origin-form (`/…`), the usual case, is turned away at the first byte.
        guard let first = uri.utf8.first, ASCII.lowered(first) == UInt8(ascii: "h") else { return nil }
        let schemeLength: Int
        if ASCII.equalsIgnoringCase(uri.prefix(7), "http://") {
            schemeLength = 7
        } else if ASCII.equalsIgnoringCase(uri.prefix(8), "https://") {
            schemeLength = 8
        } else {
            return nil
        }
        let rest = uri.dropFirst(schemeLength)
        let slash = rest.utf8.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) ?? rest.endIndex
        var path = String(rest[slash...])
        if !path.hasPrefix("/") { path = "/" + path }
        return (String(rest[..<slash]), path)
    }

    /// The lower-case host without port; nil when the Host value is not a valid authority.
    /// An empty Host (HTTP/1.0 without one) is "". Works on bytes: a host already in lower
    /// case without a port is returned as it is.
    static func hostName(_ authority: String) -> String? {
        if authority.isEmpty { return "" }
        if authority.utf8.first == UInt8(ascii: "[") { return ipv6HostName(authority) }
        enum Outcome { case invalid, unchanged, rewritten(String) }
        var text = authority
        let outcome = text.withUTF8 { bytes -> Outcome in
            var end = bytes.count
            for index in 0..<bytes.count where bytes[index] == UInt8(ascii: ":") {
                let port = UnsafeBufferPointer(rebasing: bytes[(index + 1)...])
                guard port.count <= 5, port.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }) else { return .invalid }
                end = index
                break
            }
            // `example.com.` is the same host as `example.com` (a fully qualified name).
            if end > 1, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            guard end > 0 else { return .invalid }
            var hasUpperCase = false
            for index in 0..<end {
                let byte = bytes[index]
                if byte &- UInt8(ascii: "A") < 26 {
                    hasUpperCase = true
                } else if !(byte &- UInt8(ascii: "a") < 26 || byte &- UInt8(ascii: "0") < 10 || byte == UInt8(ascii: "-")
                            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")) {
                    return .invalid
                }
            }
            if !hasUpperCase && end == bytes.count { return .unchanged }
            return .rewritten(String(unsafeUninitializedCapacity: end) { out in
                for index in 0..<end { out[index] = ASCII.lowered(bytes[index]) }
                return end
            })
        }
        switch outcome {
        case .invalid: return nil
        case .unchanged: return authority
        case .rewritten(let host): return host
        }
    }

    /// `[v6]` or `[v6]:port`: the address, lower-cased, when it is one.
    private static func ipv6HostName(_ authority: String) -> String? {
        let host = Substring(authority)
        guard let close = host.firstIndex(of: "]") else { return nil }
        let after = host[host.index(after: close)...]
        guard after.isEmpty || (after.hasPrefix(":") && after.dropFirst().allSatisfy(\.isASCIIDigit)) else { return nil }
        let address = host[host.index(after: host.startIndex)..<close]
        guard IPAddress(String(address)) != nil else { return nil }
        return address.lowercased()
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
