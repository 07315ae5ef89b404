/// The checks of a back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6):
/// signed by the provider for this client (the ID token checks: `iss`, `aud`, `exp`,
/// `iat`), an `events` claim with the back-channel logout event, `sid` or `sub`, no
/// `nonce`, and a `jti` not seen before.
extension LoginProfile {
    static let logoutEvent = "http://schemas.openid.net/event/backchannel-logout"

    /// Ends the sessions the token names; the number of names (`sid`, `sub`) it used.
    func backchannelLogout(_ token: String) async -> Result<Int, JWTAccessTokenRules.Refusal> {
        guard case .success(let jwt) = CompactJWT.parse(token), idTokens.isFromIssuer(jwt) else {
            return .failure(.init("it is not a JWT from the provider"))
        }
        if let type = jwt.type, JWTProfile.normalizedType(type) != "logout+jwt" && JWTProfile.normalizedType(type) != "jwt" {
            return .failure(.init("its typ is not logout+jwt"))
        }
        guard case .object(let events)? = jwt.claims.first(where: { $0.key == "events" })?.value,
              events.contains(where: { $0.key == Self.logoutEvent })
        else { return .failure(.init("it has no back-channel logout event")) }
        guard !jwt.claims.contains(where: { $0.key == "nonce" }) else { return .failure(.init("it has a nonce (an ID token is not a logout token)")) }
        guard case .number? = jwt.claims.first(where: { $0.key == "iat" })?.value else { return .failure(.init("it has no iat")) }
        let claims: IntrospectionClaims
        switch await providerSigned(jwt, token: token) {
        case .answer(let value): claims = value
        case .refused(let reason): return .failure(.init(reason))
        case .failed(let error): return .failure(.init(error.description))
        case .pending: return .failure(.init("the provider's keys are not available"))
        }
        let sid = claims.other["sid"]
        guard sid != nil || claims.subject != nil else { return .failure(.init("it names neither sid nor sub")) }
        guard let jti = claims.other["jti"], !jti.isEmpty else { return .failure(.init("it has no jti")) }
        guard rememberLogoutToken(jti, until: claims.expiresAt ?? 0) else { return .failure(.init("it was used before (jti)")) }
        // And nowhere else in the fleet: a token replayed to another replica is refused
        // there. Without an answer from the store, what this replica knows decides.
        if let fleet = fleetStore {
            let keep = max(WallClock.secondsSinceEpoch() + 60, (claims.expiresAt ?? 0) + config.clockSkew)
            if await fleet.claimLogoutToken(ShortDigest("jti:" + config.issuer + " " + jti).hex, until: keep) == false {
                return .failure(.init("it was used before (jti), at another replica"))
            }
        }
        endByProvider(sid: sid, subject: sid == nil ? claims.subject : nil, at: WallClock.millisecondsSinceEpoch())
        metrics.logout("backchannel")
        return .success((sid == nil ? 0 : 1) + (sid == nil && claims.subject != nil ? 1 : 0))
    }
}
