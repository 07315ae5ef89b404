import NIOHTTP1

/// The facts the gateway needs from a request's header fields, gathered in one pass. The
/// common request (no lists, no forwarding fields) allocates nothing here.
struct RequestHeaderScan {
    /// The first `Host` value and how many `Host` fields there were.
    var host: String?
    var hostCount = 0
    /// The first `Content-Length` value (of possibly comma-separated ones), and whether
    /// every other value agreed with it.
    var contentLength: String?
    var contentLengthsAgree = true
    var transferCodings: [String] = []
    /// Field names listed in `Connection`, other than the ones it may not remove and the
    /// connection options (`close`, `keep-alive`, `upgrade`) that name no field to drop.
    var connectionTokens: [String] = []
    var connectionClose = false
    var connectionKeepAlive = false
    /// `Connection` lists `upgrade`.
    var connectionUpgrade = false
    /// The `Upgrade` protocols offered, in order.
    var upgrade: [String] = []
    /// An `Upgrade` field was sent, even an empty one (llhttp's `F_UPGRADE`).
    var upgradeFieldSeen = false
    var expectsContinue = false
    var forwardedFor: [String] = []
    var forwardedProto: String?
    var forwardedHost: String?
    var authorization: [String] = []
    /// The first `X-Request-Id` value.
    var requestID: String?

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
                Self.forEachListed(value) { token in
                    if ASCII.equalsIgnoringCase(token, "close") {
                        connectionClose = true
                    } else if ASCII.equalsIgnoringCase(token, "keep-alive") {
                        connectionKeepAlive = true
                    } else if ASCII.equalsIgnoringCase(token, "upgrade") {
                        connectionUpgrade = true
                    } else if !ASCII.equalsIgnoringCase(token, "content-length"), !ASCII.equalsIgnoringCase(token, "host") {
                        // Removing these would break framing or routing rather than remove a hop-by-hop extension.
                        connectionTokens.append(String(decoding: token, as: UTF8.self))
                    }
                }
            case .expect: if value.caseInsensitiveEquals("100-continue") { expectsContinue = true }
            case .xForwardedFor: forwardedFor.append(value)
            case .xForwardedProto: forwardedProto = forwardedProto ?? value
            case .xForwardedHost: forwardedHost = forwardedHost ?? value
            case .authorization: authorization.append(value)
            case .requestID: requestID = requestID ?? value
            case .upgrade:
                upgradeFieldSeen = true
                upgrade.append(contentsOf: Self.commaSeparated(value))
            case .hopByHop, .otherForwarding, .forwardingAlias, .other: break
            }
        }
    }

    /// Whether NIO's decoder treats the request as an upgrade and stops parsing after it
    /// (llhttp: an `Upgrade` field, whatever its value, together with `Connection: upgrade`).
    /// It must agree with llhttp exactly: a request llhttp stops after, taken for an
    /// ordinary one, would leave the connection waiting for bytes nobody parses.
    var endsParsing: Bool { connectionUpgrade && upgradeFieldSeen }

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

    /// The elements of a comma-separated list, trimmed, empty ones dropped.
    static func commaSeparated(_ value: String) -> [String] {
        var elements: [String] = []
        forEachListed(value) { elements.append(String(decoding: $0, as: UTF8.self)) }
        return elements
    }

    /// Calls `body` with the bytes of each element of a comma-separated list, trimmed of
    /// spaces and tabs, empty ones skipped: views into `value`, so nothing is allocated.
    static func forEachListed(_ value: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var value = value
        value.withUTF8 { bytes in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end &+= 1 }
                var first = start
                var last = end
                while first < last, bytes[first] == UInt8(ascii: " ") || bytes[first] == UInt8(ascii: "\t") { first &+= 1 }
                while last > first, bytes[last &- 1] == UInt8(ascii: " ") || bytes[last &- 1] == UInt8(ascii: "\t") { last &-= 1 }
                if first < last { body(UnsafeBufferPointer(rebasing: bytes[first..<last])) }
                start = end &+ 1
            }
        }
    }
}
