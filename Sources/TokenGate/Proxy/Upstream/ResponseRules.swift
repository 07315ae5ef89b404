import NIOCore
import NIOHTTP1

/// How an upstream response head becomes the client's, written as bytes.
enum ResponseRules {
    /// The client's head (without `Connection` and the empty line: `finish` adds them once
    /// keep-alive is decided), and how the exchange frames the body.
    struct ClientHead {
        var head: HTTPHeadBuilder
        /// The gateway writes the body in chunks: the upstream's length was unknown to an
        /// HTTP/1.1 client, or a coding other than chunked (`gzip, chunked`) is kept.
        var chunked = false
        /// The body can only be delimited by closing the connection.
        var delimitedByClose = false
        /// `Set-Cookie` fields for the gateway's own cookies, dropped (to count and log).
        var droppedCookies = 0
    }

    /// What one pass over the upstream's fields found.
    private struct Facts {
        /// Field names the upstream's `Connection` lists (hop-by-hop for this message).
        var listed: [String] = []
        /// Transfer codings other than chunked, in order.
        var codings: [String] = []
        var hasLength = false
        var droppedCookies = 0
    }

    /// Strips hop-by-hop fields (and those `Connection` names) and sets framing for this
    /// client. A `101` keeps `Upgrade` and says `Connection: upgrade`. Transfer codings
    /// other than chunked (`gzip, chunked`) are kept in order, so the client decodes what
    /// the upstream encoded; an HTTP/1.0 client cannot receive them and the answer is nil
    /// (the gateway answers 502), nor can an HTTP/2 client, whose frames delimit the body.
    ///
    /// With `gatewayCookies` (a login profile exists) a `Set-Cookie` for one of the
    /// gateway's cookies is dropped, as the request side keeps them from `Cookie`: no app can
    /// plant or overwrite a session. Without a login profile, and for every other field, this
    /// costs nothing: only a field named `Set-Cookie` is looked into, and only then.
    static func clientHead(from upstream: HTTPResponseHead, method: HTTPMethod, clientVersion: HTTPVersion,
                           gatewayCookies: LoginCookies.Names? = nil, allocator: ByteBufferAllocator) -> ClientHead? {
        let switching = upstream.status == .switchingProtocols
        let status = upstream.status.code
        let bodyless = method == .HEAD || (100..<200).contains(status) || status == 204 || status == 304
        var facts = Facts()
        var head = write(upstream, switching: switching, dropping: [], dropLength: false, gatewayCookies: gatewayCookies, facts: &facts, allocator: allocator)
        let keepsCodings = !facts.codings.isEmpty && !bodyless
        if !facts.listed.isEmpty || (keepsCodings && facts.hasLength) {
            // Rare: fields named by a later `Connection`, or a length that is of the encoded
            // body before chunking (not the client's). Written again without them.
            var unused = Facts()
            head = write(upstream, switching: switching, dropping: facts.listed, dropLength: keepsCodings, gatewayCookies: gatewayCookies,
                         facts: &unused, allocator: allocator)
        }
        var result = ClientHead(head: head)
        result.droppedCookies = facts.droppedCookies
        if switching {
            result.head.fixedLine("Connection: upgrade\r\n")
            return result
        }
        if clientVersion.major == 2 {
            // HTTP/2 frames every body: no chunking, no close to delimit it, and no
            // transfer coding it could name (kept codings cannot reach such a client).
            return keepsCodings ? nil : result
        }
        if keepsCodings {
            guard clientVersion == .http1_1 else { return nil }
            result.head.field("Transfer-Encoding", (facts.codings + ["chunked"]).joined(separator: ", "))
            result.chunked = true
        } else if !bodyless && !facts.hasLength {
            if clientVersion == .http1_1 {
                result.head.fixedLine("Transfer-Encoding: chunked\r\n")
                result.chunked = true
            } else {
                result.delimitedByClose = true
            }
        }
        return result
    }

    /// The status line and the fields that pass, noting what decides framing.
    private static func write(_ upstream: HTTPResponseHead, switching: Bool, dropping listed: [String], dropLength: Bool,
                              gatewayCookies: LoginCookies.Names?, facts: inout Facts, allocator: ByteBufferAllocator) -> HTTPHeadBuilder {
        var head = HTTPHeadBuilder(capacity: 512, allocator: allocator)
        head.statusLine(version: .http1_1, status: upstream.status)
        for (name, value) in upstream.headers {
            switch HeaderKind.of(name) {
            case .connection:
                RequestHeaderScan.forEachListed(value) { token in
                    if !ASCII.equalsIgnoringCase(token, "close"), !ASCII.equalsIgnoringCase(token, "keep-alive"),
                       !ASCII.equalsIgnoringCase(token, "upgrade") {
                        facts.listed.append(String(decoding: token, as: UTF8.self))
                    }
                }
                continue
            case .transferEncoding:
                RequestHeaderScan.forEachListed(value) { coding in
                    if !ASCII.equalsIgnoringCase(coding, "chunked") { facts.codings.append(String(decoding: coding, as: UTF8.self)) }
                }
                continue
            case .hopByHop:
                continue
            case .upgrade:
                if !switching { continue }
            case .contentLength:
                facts.hasLength = true
                if dropLength { continue }
            case .host:
                break
            default:
                if let gatewayCookies, name.caseInsensitiveEquals("set-cookie"), gatewayCookies.isOwn(setCookie: value) {
                    facts.droppedCookies += 1
                    continue
                }
                if !listed.isEmpty, listed.contains(where: { $0.caseInsensitiveEquals(name) }) { continue }
            }
            head.field(name, value)
        }
        return head
    }

    /// Tells the client whether the connection stays open after this response, and ends the head.
    static func finish(_ head: inout HTTPHeadBuilder, keepAlive: Bool, clientVersion: HTTPVersion) {
        if !keepAlive {
            head.fixedLine("Connection: close\r\n")
        } else if clientVersion == .http1_0 {
            head.fixedLine("Connection: keep-alive\r\n")
        }
        head.end()
    }
}
