import NIOHTTP1

/// The header rewriting every proxied exchange goes through, in one place so both
/// directions follow RFC 9110 §7.6.1 the same way.
enum HeaderRules {
    /// Hop-by-hop fields that never cross the gateway, in either direction.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade",
    ]

    /// Fields a `Connection` header may not make the gateway drop: removing them would
    /// break framing or routing rather than remove a hop-by-hop extension.
    static let protectedFromConnectionList: Set<String> = ["content-length", "host"]

    /// Forwarding fields that only a trusted proxy may set.
    static let forwardingFields = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "forwarded", "x-real-ip"]

    /// The forwarding fields the gateway writes itself on every request.
    static let rebuiltForwardingFields: Set<String> = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]

    /// Removes hop-by-hop fields and every field the `Connection` header names.
    static func removeHopByHop(_ headers: inout HTTPHeaders) {
        var listed: [String] = []
        for value in headers[canonicalForm: "connection"] {
            let name = value.lowercased()
            if !protectedFromConnectionList.contains(name) { listed.append(name) }
        }
        var needsRemoval = !listed.isEmpty
        if !needsRemoval {
            for (name, _) in headers where isHopByHop(name) {
                needsRemoval = true
                break
            }
        }
        guard needsRemoval else { return }
        var kept = HTTPHeaders()
        kept.reserveCapacity(headers.count)
        for (name, value) in headers {
            if isHopByHop(name) { continue }
            if !listed.isEmpty, listed.contains(where: { $0.utf8.count == name.utf8.count && $0.caseInsensitiveEquals(name) }) { continue }
            kept.add(name: name, value: value)
        }
        headers = kept
    }

    @inline(__always)
    static func isHopByHop(_ name: String) -> Bool {
        let count = name.utf8.count
        guard count >= 2, count <= 19 else { return false }
        if count >= 6, name.utf8.prefix(6).elementsEqual("proxy-".utf8, by: { $0 | 0x20 == $1 }) { return true }
        return hopByHop.contains(name.lowercased())
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
    /// Strips hop-by-hop fields and sets framing and `Connection` for this client.
    /// May turn off keep-alive on the exchange (an HTTP/1.0 client and a body of unknown
    /// length can only be delimited by closing).
    static func clientHead(from upstream: HTTPResponseHead, exchange: Exchange) -> HTTPResponseHead {
        var headers = upstream.headers
        HeaderRules.removeHopByHop(&headers)
        let status = upstream.status.code
        let bodyless = exchange.method == .HEAD || (100..<200).contains(status) || status == 204 || status == 304
        if !bodyless && !headers.contains(name: "content-length") {
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
