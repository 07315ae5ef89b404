/// What a header field means to the gateway. Classified once per field from its bytes, by
/// length and first byte and then one case-insensitive compare, so the hot path never
/// lower-cases, hashes or allocates a name.
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
        if let kind = name.utf8.withContiguousStorageIfAvailable(of) { return kind }
        return Array(name.utf8).withUnsafeBufferPointer { of($0) }
    }

    private static func of(_ name: UnsafeBufferPointer<UInt8>) -> HeaderKind {
        guard let first = name.first.map(ASCII.lowered) else { return .other }
        switch (name.count, first) {
        case (2, UInt8(ascii: "t")): if ASCII.equalsIgnoringCase(name, "te") { return .hopByHop }
        case (4, UInt8(ascii: "h")): if ASCII.equalsIgnoringCase(name, "host") { return .host }
        case (6, UInt8(ascii: "e")): if ASCII.equalsIgnoringCase(name, "expect") { return .expect }
        case (7, UInt8(ascii: "u")): if ASCII.equalsIgnoringCase(name, "upgrade") { return .upgrade }
        case (7, UInt8(ascii: "t")): if ASCII.equalsIgnoringCase(name, "trailer") { return .hopByHop }
        case (10, UInt8(ascii: "c")): if ASCII.equalsIgnoringCase(name, "connection") { return .connection }
        case (10, UInt8(ascii: "k")): if ASCII.equalsIgnoringCase(name, "keep-alive") { return .hopByHop }
        case (12, UInt8(ascii: "x")): if ASCII.equalsIgnoringCase(name, "x-request-id") { return .requestID }
        case (13, UInt8(ascii: "a")): if ASCII.equalsIgnoringCase(name, "authorization") { return .authorization }
        case (14, UInt8(ascii: "c")): if ASCII.equalsIgnoringCase(name, "content-length") { return .contentLength }
        case (15, UInt8(ascii: "x")): if ASCII.equalsIgnoringCase(name, "x-forwarded-for") { return .xForwardedFor }
        case (16, UInt8(ascii: "x")): if ASCII.equalsIgnoringCase(name, "x-forwarded-host") { return .xForwardedHost }
        case (17, UInt8(ascii: "t")): if ASCII.equalsIgnoringCase(name, "transfer-encoding") { return .transferEncoding }
        case (17, UInt8(ascii: "x")): if ASCII.equalsIgnoringCase(name, "x-forwarded-proto") { return .xForwardedProto }
        case (_, UInt8(ascii: "p")):
            // Proxy-Connection, Proxy-Authorization, Proxy-Authenticate and the rest of Proxy-*.
            if name.count > 6, ASCII.equalsIgnoringCase(UnsafeBufferPointer(rebasing: name[0..<6]), "proxy-") { return .hopByHop }
            return .other
        default: break
        }
        return forwardingKind(name, first: first)
    }

    /// Fields that name the client's address or override the request URL on some server
    /// or framework (Spring, IIS, Symfony, Akamai, Cloudflare): only a trusted proxy may set them.
    static let clientAddressAndURLOverrides: [StaticString] = [
        "x-original-url", "x-rewrite-url", "x-original-uri", "true-client-ip", "x-client-ip", "x-cluster-client-ip",
        "cf-connecting-ip", "fastly-client-ip", "x-originating-ip", "x-remote-ip", "x-remote-addr", "x-host",
        "x-forwarded-server", "x-forwarded-scheme", "x-forwarded-ssl", "x-forwarded-prefix", "x-real-ip", "forwarded",
        "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
    ]

    /// `clientAddressAndURLOverrides` by length, so a name is compared with the few of its length only.
    private static let overridesByLength: [[StaticString]] = {
        var table = [[StaticString]](repeating: [], count: 24)
        for name in clientAddressAndURLOverrides where name.utf8CodeUnitCount < table.count { table[name.utf8CodeUnitCount].append(name) }
        return table
    }()

    /// `.otherForwarding` for a forwarding or override field, `.forwardingAlias` for one
    /// spelled with `_`, else `.other`. Every such name starts with x, t, c or f, which
    /// turns most names away after one byte.
    private static func forwardingKind(_ name: UnsafeBufferPointer<UInt8>, first: UInt8) -> HeaderKind {
        guard first == UInt8(ascii: "x") || first == UInt8(ascii: "t") || first == UInt8(ascii: "c") || first == UInt8(ascii: "f"),
              name.count < overridesByLength.count else { return .other }
        for candidate in overridesByLength[name.count] {
            var alias = false
            let matches = candidate.withUTF8Buffer { expected in
                for index in 0..<name.count {
                    let byte = name[index]
                    if byte == UInt8(ascii: "_") && expected[index] == UInt8(ascii: "-") {
                        alias = true
                    } else if ASCII.lowered(byte) != expected[index] {
                        return false
                    }
                }
                return true
            }
            if matches { return alias ? .forwardingAlias : .otherForwarding }
        }
        return .other
    }
}
