// Revocations: what `POST /revoke` makes here, and what the fleet's store brings from the
// other replicas. Both end up in the same two places: each login profile's
// `LoginRevocations` (sessions, provider sessions, subjects) and the gateway's
// `TokenRevocations` (bearer tokens), which the hot path reads without waiting.
extension Gateway {
    /// The longest a revocation is kept when nothing says when what it names expires.
    static let defaultRevocationLifetime = 86_400
    /// The longest any revocation is kept.
    static let maxRevocationLifetime = 30 * 86_400

    /// Applies revocations read from the store (made anywhere in the fleet, this replica
    /// included: applying one twice changes nothing).
    func apply(_ revocations: [FleetRevocation]) {
        let now = WallClock.secondsSinceEpoch()
        let profiles = running.withLockedValue { $0.profiles }
        for profile in profiles.login.values { profile.apply(revocations, now: now) }
        var refused = 0
        for revocation in revocations where revocation.kind == .token {
            guard let key = TokenCacheKey(hex: revocation.key) else { continue }
            if !tokenRevocations.insert(key, until: revocation.until, now: now) { refused += 1 }
            evict(key, from: profiles)
        }
        if refused > 0 {
            logger.error("the list of revoked tokens is full: revocations from the store were not recorded", metadata: [
                "refused": "\(refused)", "capacity": "\(tokenRevocations.capacity)",
            ])
        }
        tokenRevocations.sweep(now: now)
    }

    private func evict(_ key: TokenCacheKey, from profiles: Profiles) {
        for profile in profiles.introspection.values { profile.evict(key) }
        for profile in profiles.jwt.values { profile.evict(key) }
    }

    /// `POST /revoke` (the admin listener, from this host only): a JSON object naming one
    /// of `session` (a login session id), `sid`, `sub` or `token`, with `profile` (a
    /// login profile; default every one) and, for a token, `expires_in` (seconds; default
    /// the JWT's `exp`, else the `exp` an introspection cache here knows, else a day).
    /// Applied here at once, and queued for the fleet.
    func revoke(_ body: [UInt8]) -> AdminRoutes.Answer {
        switch RevokeRequest.parse(body) {
        case .failure(let problem):
            return AdminRoutes.Answer(GatewayAnswer(.invalidRequest, detail: problem.description))
        case .success(let request):
            let profiles = running.withLockedValue { $0.profiles }
            if let name = request.profile, profiles.login[name] == nil {
                return AdminRoutes.Answer(GatewayAnswer(.invalidRequest, detail: "there is no login profile \"\(name)\""))
            }
            let now = WallClock.secondsSinceEpoch()
            // An opaque token's expiry, when an introspection cache here holds its answer.
            let knownExpiry = request.kind == .token
                ? profiles.introspection.values.compactMap { $0.cached(key: TokenCacheKey(token: request.value))?.expiresAt }.max()
                : nil
            let revocation = request.revocation(
                now: now, nowMilliseconds: WallClock.millisecondsSinceEpoch(), sessionLifetime: sessionLifetime(request.profile, profiles), knownExpiry: knownExpiry
            )
            if revocation.kind == .token {
                guard let key = TokenCacheKey(hex: revocation.key), tokenRevocations.insert(key, until: revocation.until, now: now) else {
                    return AdminRoutes.Answer(GatewayAnswer(.internalError, detail: "the list of revoked tokens is full; nothing was recorded"))
                }
                evict(key, from: profiles)
            } else {
                for profile in profiles.login.values { profile.apply([revocation], now: now) }
            }
            fleet?.record(revocation)
            let shared = fleet == nil ? "this gateway only (no store)" : "queued for the fleet"
            let answer = RevokeAnswer(
                revoked: revocation.kind.rawValue, profile: revocation.profile, until: JSONLogHandler.timestamp(epochSeconds: revocation.until), scope: shared
            )
            return AdminRoutes.Answer(status: .ok, body: (try? CompactJSONEncoder.encode(answer)) ?? "{}")
        }
    }

    /// How long a session revocation must last: the absolute timeout of the profile named
    /// (or the longest of all).
    private func sessionLifetime(_ name: String?, _ profiles: Profiles) -> Int {
        let chosen = name.flatMap { profiles.login[$0] }.map { [$0] } ?? Array(profiles.login.values)
        return chosen.map { Int($0.config.absoluteTimeout.components.seconds) }.max() ?? Self.defaultRevocationLifetime
    }
}
