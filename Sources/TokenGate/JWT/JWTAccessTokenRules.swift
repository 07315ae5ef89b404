/// The claim checks of an RFC 9068 access token whose signature is valid: issuer,
/// audience, `exp` (required), `nbf` and `iat` with the profile's clock skew. Route rules
/// (scopes, a route's own audience) are applied afterwards on every request, as for
/// introspection.
struct JWTAccessTokenRules {
    let config: JWTProfileConfig

    init(_ config: JWTProfileConfig) { self.config = config }

    struct Refusal: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    func claims(of jwt: CompactJWT, now: Int) -> Result<IntrospectionClaims, Refusal> {
        guard jwt.issuer == config.issuer else { return .failure(Refusal("the token is from another issuer")) }
        guard var claims = IntrospectionClaims.claims(of: jwt.claims, now: now) else {
            return .failure(Refusal("the token has a time claim (exp, nbf, iat) that is not a number of seconds"))
        }
        let skew = config.clockSkew
        guard let expiresAt = claims.expiresAt else { return .failure(Refusal("the token has no expiry (exp)")) }
        if expiresAt + skew <= now { return .failure(Refusal("the token has expired")) }
        if let notBefore = claims.notBefore, notBefore - skew > now { return .failure(Refusal("the token is not valid yet")) }
        if let issuedAt = claims.other["iat"].flatMap(Int.init), issuedAt - skew > now {
            return .failure(Refusal("the token was issued in the future (iat)"))
        }
        if !config.allowAnyAudience && !claims.audiences.contains(where: config.audiences.contains) {
            return .failure(Refusal("the token is not for this audience"))
        }
        // RFC 9068 §2.2.3: `scope` is a string; many issuers send `scp`, a list.
        if claims.scope == nil {
            switch scopeList(jwt.claims) {
            case .success(let scopes): if let scopes { claims.scope = scopes }
            case .failure(let refusal): return .failure(refusal)
            }
        }
        if claims.clientID == nil, let party = claims.other["azp"] { claims.clientID = party }
        return .success(claims)
    }

    /// `scp` as a `scope` string (nil without `scp`). Its elements are joined with spaces
    /// by `IntrospectionClaims.joinedList`: an element holding a space would read as two
    /// scopes (`["orders admin"]` as `orders` and `admin`, one the issuer never granted),
    /// so such a token is refused.
    private func scopeList(_ members: [(key: String, value: JSONValue)]) -> Result<String?, Refusal> {
        switch members.first(where: { $0.key == "scp" })?.value {
        case .string(let text)?: return .success(text)
        case .array(let items)?:
            let scopes = items.compactMap { item -> String? in if case .string(let text) = item { return text } else { return nil } }
            guard let joined = IntrospectionClaims.joinedList(scopes, separator: UInt8(ascii: " ")) else {
                return .failure(Refusal("the token's scp claim has an element that is not one scope (empty, or with a space or a control character)"))
            }
            return .success(joined)
        default: return .success(nil)
        }
    }
}
