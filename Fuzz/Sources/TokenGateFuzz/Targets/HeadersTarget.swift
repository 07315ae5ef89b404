import NIOCore
import NIOHTTP1
@testable import TokenGate

/// The request header scan, framing, authority and the planner: a request head (from
/// `HeadInput`: first line `METHOD TARGET [HTTP/1.0|HTTP/1.1] [PEER-ADDRESS]`, then
/// fields) planned by the fixture's listener, with and without the login cookie rule.
/// The peer defaults to 127.0.0.1; 10.x and fd00::/8 are trusted proxies.
///
/// Invariants on every head the planner accepts: well-formed lines; the request line is
/// the method, a target without whitespace and HTTP/1.1; one Host, one X-Forwarded-For,
/// one X-Request-Id that `isAcceptable` and is the plan's; framing fields as the plan
/// says and never both; no hop-by-hop field but the gateway's own upgrade pair, no
/// `_` spelling of a forwarding field, other forwarding fields only from a trusted
/// peer, no identity look-alike, no Cookie pair of the gateway's, no Authorization where
/// the route withholds it and none in the injected credential's header; the framing
/// facts agree with `RequestPlanner.framing`.
enum HeadersTarget {
    static func run(_ bytes: [UInt8]) {
        let input = HeadInput(bytes)
        let words = input.words
        let method = HTTPMethod(rawValue: words.first.map { String($0) } ?? "GET")
        let uri = words.count > 1 ? String(words[1]) : "/"
        let version: HTTPVersion = words.count > 2 && words[2] == "HTTP/1.0" ? .http1_0 : .http1_1
        let peerText = words.count > 3 ? String(words[3]) : "127.0.0.1"
        let peer = IPAddress(peerText)
        let head = HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(input.fields.map { ($0.name, $0.value) }))

        let scan = RequestHeaderScan(head.headers)
        _ = scan.keepAlive(version: version)
        _ = scan.offersWebSocket
        _ = RequestPlanner.refusalFacts(head)
        _ = WebSocketHandshake(requestHeaders: head.headers)
        _ = BearerCredential.extract(authorization: scan.authorization, queryHasAccessToken: false)
        if case .success(let authority) = RequestPlanner.authority(scan, head), let host = RequestPlanner.hostName(authority) {
            invariant(!host.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }, "a host name keeps upper case")
            invariant(authority.utf8.first == UInt8(ascii: "[") || !host.utf8.contains(UInt8(ascii: ":")), "a host name keeps its port")
        }
        let framing = RequestPlanner.framing(scan, version: version)

        for planner in [Fixture.shared.planner, Fixture.shared.plainPlanner] {
            var requestIDs = RequestIDGenerator()
            let result = planner.plan(head, peer: peer, peerText: peerText, requestIDs: &requestIDs, allocator: ByteBufferAllocator())
            switch result {
            case .success(let plan):
                guard case .success(let expected) = framing else {
                    invariant(false, "the planner accepted a request whose framing is refused")
                    return
                }
                invariant(plan.contentLength == expected.contentLength && plan.isChunked == expected.chunked, "the plan's framing is not the scan's")
                check(plan, head: head, planner: planner, peer: peer)
            case .failure(let error):
                checkRenders(error)
            }
        }
    }

    static func check(_ plan: ForwardPlan, head: HTTPRequestHead, planner: RequestPlanner, peer: IPAddress?) {
        let what = "planned upstream head"
        var builder = HTTPHeadBuilder(continuing: plan.upstreamHead)
        builder.end()
        let lines = WrittenHead.lines(builder.buffer, ended: true, what: what)
        guard let requestLine = lines.first else { return }
        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        invariant(parts.count == 3, "\(what): the request line is not METHOD TARGET VERSION")
        invariant(parts.first.map { $0.elementsEqual(head.method.rawValue.utf8) } == true, "\(what): the request line has another method")
        invariant(parts.last.map { $0.elementsEqual("HTTP/1.1".utf8) } == true, "\(what): the request line is not HTTP/1.1")
        if parts.count == 3 { invariant(parts[1].first == UInt8(ascii: "/"), "\(what): the upstream target does not start with /") }

        let trusted = peer.map { address in planner.listener.trustedProxies.contains { $0.contains(address) } } ?? false
        var counts: [String: Int] = [:]
        for line in lines.dropFirst() {
            let field = WrittenHead.field(line, what: what)
            let lower = field.name.lowercased()
            counts[lower, default: 0] += 1
            switch HeaderKind.of(field.name) {
            case .hopByHop: invariant(false, "\(what): a hop-by-hop field is forwarded")
            case .connection, .upgrade:
                invariant(plan.webSocket != nil, "\(what): Connection or Upgrade is forwarded outside a WebSocket handshake")
            case .forwardingAlias: invariant(false, "\(what): a forwarding field spelled with _ is forwarded")
            case .otherForwarding: invariant(trusted, "\(what): a forwarding field of an untrusted peer is forwarded")
            case .authorization:
                if let validation = plan.route.validation {
                    invariant(validation.rules.forwardAuthorization, "\(what): Authorization is forwarded on a route that withholds it")
                }
            case .expect: invariant(false, "\(what): Expect is forwarded")
            case .host, .contentLength, .transferEncoding, .xForwardedFor, .xForwardedProto, .xForwardedHost, .requestID, .other:
                break
            }
            if let credentialHeader = plan.route.credentialHeaderName {
                invariant(!field.name.caseInsensitiveEquals(credentialHeader), "\(what): the client's \(credentialHeader) reaches a credential route")
            }
            invariant(!planner.identityNames.isLookalike(field.name), "\(what): a client's identity header look-alike is forwarded")
            if lower == "cookie", planner.loginCookies != nil {
                for pair in field.value.split(separator: ";") {
                    let name = pair.trimmingASCIISpaces()
                    invariant(!LoginCookies.Names.prefixes.contains { name.hasPrefix($0) }, "\(what): one of the gateway's cookies is forwarded")
                }
            }
            if lower == "x-request-id" {
                invariant(field.value == plan.requestID && RequestIDGenerator.isAcceptable(field.value), "\(what): the X-Request-Id is not the plan's acceptable one")
            }
            if lower == "content-length" { invariant(field.value == plan.contentLength.map(String.init), "\(what): Content-Length is not the plan's") }
            if lower == "transfer-encoding" { invariant(plan.isChunked && field.value == "chunked", "\(what): Transfer-Encoding is not the plan's chunked") }
        }
        invariant(counts["host"] == 1, "\(what): not exactly one Host")
        invariant(counts["x-forwarded-for"] == 1, "\(what): not exactly one X-Forwarded-For")
        invariant(counts["x-request-id"] == 1, "\(what): not exactly one X-Request-Id")
        invariant((counts["content-length"] ?? 0) == (plan.contentLength == nil ? 0 : 1), "\(what): Content-Length does not match the plan")
        invariant((counts["transfer-encoding"] ?? 0) == (plan.isChunked ? 1 : 0), "\(what): Transfer-Encoding does not match the plan")
        invariant(!(plan.isChunked && plan.contentLength != nil), "a plan is both chunked and of a declared length")
        if let login = plan.login {
            invariant(login.cookies.keys.allSatisfy { $0.hasPrefix(Fixture.shared.login.cookies.ownPrefix) }, "a login request holds a cookie that is not the profile's")
            _ = login.isCrossSite
            _ = login.parameter("return_to")
        }
    }

    /// A refusal renders as a valid head and a JSON body.
    static func checkRenders(_ error: GatewayAnswer) {
        let body = error.body(allocator: ByteBufferAllocator())
        let head = HTTPHeadBuilder.response(error.head(version: .http1_1, contentLength: body.readableBytes, keepAlive: false), allocator: ByteBufferAllocator())
        invariant(head.isValid, "a refusal's head is not valid (\(head.problem ?? "?"))")
        if error.page == nil {
            invariant((try? JSONParser.parse(Array(body.readableBytesView))) != nil, "a refusal's body is not JSON")
        }
    }
}
