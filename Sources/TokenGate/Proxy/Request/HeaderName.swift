/// HTTP field-name syntax (RFC 9110 §5.1: a token).
enum HeaderName {
    /// Why `name` cannot carry a value the gateway sets (an identity header), or nil: it
    /// frames or routes the message, is hop-by-hop, is a forwarding field, or is the
    /// caller's credential.
    static func reservedReason(_ name: String) -> String? {
        switch HeaderKind.of(name) {
        case .host, .contentLength, .transferEncoding, .expect: return "\(name) frames or routes the request"
        case .connection, .hopByHop, .upgrade: return "\(name) is hop-by-hop"
        case .xForwardedFor, .xForwardedProto, .xForwardedHost, .otherForwarding, .forwardingAlias:
            return "\(name) is a forwarding field the gateway sets or strips"
        case .authorization: return "\(name) carries credentials"
        case .requestID: return "\(name) is the request id"
        case .other:
            let lower = name.lowercased()
            if lower == "cookie" || lower == "set-cookie" { return "\(name) carries credentials" }
            return nil
        }
    }

    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(ByteClass.token.contains)
    }
}
