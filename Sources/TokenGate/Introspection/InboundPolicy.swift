/// A route's inbound rules applied to an introspection answer, on every request (cache
/// hit or not), so an answer cached for a lenient route never passes a stricter one.
enum InboundPolicy {
    /// Allowance for clocks that disagree, on `nbf`.
    static let clockSkew = 60

    /// The identity headers to send upstream, or the RFC 6750 refusal.
    /// `leeway` is the allowance on `exp` and `nbf`: none on an introspection answer's
    /// `exp` (the server said until when), a JWT profile's `clock_skew_seconds` on a JWT's.
    static func evaluate(
        _ claims: IntrospectionClaims, _ rules: InboundValidationConfig, route: String, now: Int,
        leeway: (expiry: Int, notBefore: Int) = (0, clockSkew)
    ) -> Result<[(name: String, value: String)], GatewayAnswer> {
        guard claims.active else {
            return .failure(invalidToken(rules, route: route, detail: "the token is not active"))
        }
        if let expiresAt = claims.expiresAt, expiresAt + leeway.expiry <= now {
            return .failure(invalidToken(rules, route: route, detail: "the token has expired"))
        }
        if let notBefore = claims.notBefore, notBefore > now + leeway.notBefore {
            return .failure(invalidToken(rules, route: route, detail: "the token is not valid yet"))
        }
        if let type = claims.tokenType, !IntrospectionClaims.isAccessTokenType(type) {
            return .failure(invalidToken(rules, route: route, detail: "the token is not an access token"))
        }
        if let audience = rules.audience, !claims.audiences.contains(audience) {
            return .failure(invalidToken(rules, route: route, detail: "the token is not for this audience"))
        }
        if let issuer = rules.issuer, claims.issuer != issuer {
            return .failure(invalidToken(rules, route: route, detail: "the token is from another issuer"))
        }
        if !rules.requiredScopes.allSatisfy(claims.scopeList.contains) {
            let needed = rules.requiredScopes.joined(separator: " ")
            return .failure(GatewayAnswer(
                .insufficientScope, detail: "the token lacks a required scope (\(needed))", route: route,
                headers: [("WWW-Authenticate", challenge(rules.realm, error: "insufficient_scope", scope: needed))]
            ))
        }
        var identity: [(name: String, value: String)] = []
        identity.reserveCapacity(rules.identityHeaders.count)
        for (header, claim) in rules.identityHeaders {
            // Fail closed (`IntrospectionClaims.identityHeader`): a control character, or a
            // list element the joined value would blur, refuses the token, naming the claim.
            switch claims.identityHeader(claim, header: header) {
            case .value(let value): identity.append((header, value))
            case .absent: break
            case .refused(let problem): return .failure(invalidToken(rules, route: route, detail: "the token's " + problem))
            }
        }
        return .success(identity)
    }

    /// 401 for a request without a bearer token: a bare challenge (RFC 6750 §3.1).
    static func missingToken(_ rules: InboundValidationConfig, route: String) -> GatewayAnswer {
        GatewayAnswer(
            .unauthorized, route: route,
            headers: [("WWW-Authenticate", challenge(rules.realm, error: nil, scope: nil))]
        )
    }

    static func invalidToken(_ rules: InboundValidationConfig, route: String, detail: String) -> GatewayAnswer {
        GatewayAnswer(
            .invalidToken, detail: detail, route: route,
            headers: [("WWW-Authenticate", challenge(rules.realm, error: "invalid_token", scope: nil))]
        )
    }

    static func invalidRequest(_ rules: InboundValidationConfig, route: String, detail: String) -> GatewayAnswer {
        GatewayAnswer(
            .invalidRequest, detail: detail, route: route,
            headers: [("WWW-Authenticate", challenge(rules.realm, error: "invalid_request", scope: nil))]
        )
    }

    /// Fail closed: the endpoint could not answer and nothing was cached. 503, not 401,
    /// so clients keep their (probably good) tokens and retry.
    static func unavailable(_ error: IntrospectionError, route: String) -> GatewayAnswer {
        GatewayAnswer(.introspectionUnavailable, route: route, headers: [("Retry-After", "5")])
    }

    /// Fail closed: the issuer's keys could not be had. 503, as for introspection.
    static func keysUnavailable(_ error: JWKSError, route: String) -> GatewayAnswer {
        GatewayAnswer(.jwksUnavailable, route: route, headers: [("Retry-After", "5")])
    }

    /// `Bearer realm="…"[, error="…"][, scope="…"]`.
    static func challenge(_ realm: String, error: String?, scope: String?) -> String {
        var value = "Bearer realm=\(quoted(realm))"
        if let error { value += ", error=\(quoted(error))" }
        if let scope { value += ", scope=\(quoted(scope))" }
        return value
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text where character.isASCII && !(character.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? true) {
            if character == "\"" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out + "\""
    }

    /// Whether a claim value can be an identity header's value as it is: no control
    /// character (CR or LF would split the header; dropping them would rename the caller).
    static func isHeaderSafe(_ value: String) -> Bool {
        // On the contiguous bytes: identity values are checked on every validated request.
        if let safe = value.utf8.withContiguousStorageIfAvailable({ !$0.contains { $0 < 0x20 || $0 == 0x7F } }) { return safe }
        return value.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
    }
}
