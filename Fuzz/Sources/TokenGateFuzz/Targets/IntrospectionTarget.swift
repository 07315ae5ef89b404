@testable import TokenGate

/// RFC 7662 introspection answers: `IntrospectionClaims.parse` (the answer a profile
/// caches), then the route rules on it (`InboundPolicy.evaluate`, as on every request).
/// The input is the answer's body.
///
/// Invariants: an inactive answer is `.inactive`; time claims of an active one are within
/// `timeRange` of now; the scope list is the scope split at spaces; a list claim is either
/// one value whose elements split back exactly, or unrepresentable, never both; identity
/// headers are valid header values and a refusal renders.
enum IntrospectionTarget {
    static func run(_ bytes: [UInt8]) {
        let now = Fixture.now
        guard let claims = IntrospectionClaims.parse(bytes, now: now) else { return }
        if !claims.active {
            invariant(claims.scope == nil && claims.subject == nil && claims.other.isEmpty, "an inactive answer keeps claims")
        } else {
            for time in [claims.expiresAt, claims.notBefore].compactMap({ $0 }) {
                invariant(abs(time - now) <= IntrospectionClaims.timeRange + 1, "a time claim far from now was kept")
            }
            invariant(claims.scopeList == (claims.scope?.split(separator: " ").map(String.init) ?? []), "the scope list is not the scope split at spaces")
            checkLists(bytes, claims)
        }
        for claim in ["sub", "scope", "client_id", "username", "iss", "aud", "exp", "groups", "roles", "scp"] {
            if let value = claims.value(of: claim) { _ = InboundPolicy.isHeaderSafe(value) }
            _ = claims.isUnrepresentable(claim)
        }
        let fixture = Fixture.shared
        JWTTarget.evaluate(claims, fixture.ordersRules, route: "orders")
        JWTTarget.evaluate(claims, fixture.forwardingRules, route: "forwarding")
    }

    /// Members holding lists of strings: joined with `,` into one value that splits back
    /// into the same elements, or unrepresentable.
    static func checkLists(_ bytes: [UInt8], _ claims: IntrospectionClaims) {
        guard let document = try? JSONParser.parse(bytes), case .object(let members) = document else { return }
        for (key, value) in members where !["aud", "exp", "nbf", "iat", "active"].contains(key) {
            guard case .array(let items) = value else { continue }
            let strings = items.compactMap { item -> String? in if case .string(let text) = item { return text } else { return nil } }
            if strings.isEmpty { continue }
            let joined = claims.other[key]
            let unrepresentable = claims.isUnrepresentable(key)
            invariant((joined != nil) != unrepresentable, "list claim \(key) is both a value and unrepresentable, or neither")
            if let joined {
                // Split as an app would, at the `,` byte, trimming spaces and tabs: the same
                // elements, byte for byte.
                let elements = joined.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { element -> [UInt8] in
                    var bytes = Array(element)
                    while bytes.first == 0x20 || bytes.first == 0x09 { bytes.removeFirst() }
                    while bytes.last == 0x20 || bytes.last == 0x09 { bytes.removeLast() }
                    return bytes
                }
                invariant(elements.count == strings.count && zip(elements, strings).allSatisfy { $0.elementsEqual($1.utf8) },
                          "list claim \(key) does not split back into its elements")
            }
        }
    }
}
