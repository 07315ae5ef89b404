/// The bearer token a request carries (RFC 6750 §2.1), as the planner found it.
enum BearerCredential: Equatable {
    case absent
    /// A non-empty token whose b64token syntax is not checked yet: admission checks it
    /// (`isB64Token`, else 400) before the token is introspected or verified, never on a
    /// cache hit, since only tokens that passed it are ever cached. A JWT is hundreds of
    /// bytes; checking it once per token rather than once per request keeps a cache hit
    /// as cheap for a JWT as for a short opaque token.
    case token(String)
    /// More than one `Authorization` header, an empty token, or a token both in the
    /// header and the query.
    case malformed(String)

    static let notB64Token = "the Bearer token is not a valid token68 value"
    static let tokenInQuery = "a token in the query string (access_token) is not accepted: URLs are logged and leak through Referer; send it as Authorization: Bearer (RFC 9700 §4.3.2)"

    /// Reads the `Authorization` values and whether the query carries `access_token`.
    static func extract(authorization: [String], queryHasAccessToken: Bool) -> BearerCredential {
        guard let value = authorization.first else {
            // RFC 6750 §2.3 allows it, RFC 9700 §2.1.2 and §4.3.2 advise against it: URLs end
            // up in logs, history and Referer headers. The implicit grant's habit; refused.
            return queryHasAccessToken ? .malformed(Self.tokenInQuery) : .absent
        }
        if authorization.count > 1 { return .malformed("more than one Authorization header") }
        let utf8 = value.utf8
        guard let space = utf8.firstIndex(of: UInt8(ascii: " ")) else {
            return value.caseInsensitiveEquals("bearer") ? .malformed("the Bearer token is empty") : .absent
        }
        guard ASCII.equalsIgnoringCase(value[..<space], "bearer") else {
            // Another scheme (Basic, …) carries no bearer token.
            return .absent
        }
        if queryHasAccessToken { return .malformed("the token is in both the Authorization header and the query") }
        var start = utf8.index(after: space)
        while start < utf8.endIndex, utf8[start] == UInt8(ascii: " ") { start = utf8.index(after: start) }
        var end = utf8.endIndex
        while end > start, utf8[utf8.index(before: end)] == UInt8(ascii: " ") { end = utf8.index(before: end) }
        let token = String(value[start..<end])
        guard !token.isEmpty else { return .malformed("the Bearer token is empty") }
        return .token(token)
    }

    /// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    /// One table load per byte: JWTs are hundreds of bytes, checked on every request.
    static func isB64Token(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            ByteClass.b64Token.withTable { table in
                var index = 0
                while index < bytes.count, table[Int(bytes[index])] { index &+= 1 }
                guard index > 0 else { return false }
                while index < bytes.count, bytes[index] == UInt8(ascii: "=") { index &+= 1 }
                return index == bytes.count
            }
        }
    }

    /// Whether a query string has an `access_token` parameter.
    static func queryHasAccessToken(_ query: String?) -> Bool {
        guard let query else { return false }
        return query.split(separator: "&").contains { $0 == "access_token" || $0.hasPrefix("access_token=") }
    }
}

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
        value.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
    }
}
