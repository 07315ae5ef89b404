/// Refreshing a session's access token with its refresh token: ahead of expiry, one
/// token request per session however many requests need it (single-flight), and for
/// `refreshGrace` after it, requests that still carry the old cookie (a page's parallel
/// requests, racing the rotated refresh token) get the winner's result instead of
/// spending the old refresh token again (oauth2-proxy #1992, #1006), but never an access
/// token past its expiry; a request with the new cookie gets the same result while its
/// access token lives, and refreshes as usual after (`SessionRefreshTable`).
extension LoginProfile {
    enum RefreshResult: Sendable {
        case refreshed(LoginSession)
        /// The provider refused the refresh token: the session is over.
        case ended
        /// The provider could not be asked; the old session stands while its token lasts.
        case unavailable
        /// A shared session's refresh could not be published to the fleet's store (so it
        /// was not made): the old session stands while its token lasts, then 503.
        case storeUnavailable
    }

    enum RefreshLookup: Sendable {
        case result(RefreshResult)
        case pending
    }

    /// How long a finished refresh answers requests that present the refresh token it spent.
    static let refreshGrace = Duration.seconds(30)
    /// Refresh this long before the access token expires.
    static let refreshAhead = 60

    func needsRefresh(_ session: LoginSession, now: Int) -> Bool {
        guard session.refreshToken != nil, let expiry = session.accessTokenExpiresAt else { return false }
        return expiry - Self.refreshAhead <= now
    }

    /// The refreshed session: a recent result, or `.pending` with `waiter` called when the
    /// refresh in flight (started here if none is) settles.
    func refresh(_ session: LoginSession, waiter: @escaping @Sendable (RefreshResult) -> Void) -> RefreshLookup {
        let now = ContinuousClock.now
        let wallNow = WallClock.secondsSinceEpoch()
        switch refreshes.withLockedValue({ $0.lookup(session, waiter: waiter, now: now, wallNow: wallNow) }) {
        case .answer(let result): return .result(result)
        case .join: return .pending
        case .start(let spending):
            // The request's session, or for a straggler whose winner's token has expired
            // meanwhile, the winner's session (never its own, already spent, refresh token).
            // The profile's loop asks the provider; a full queue or a stopped profile
            // answers every waiter `.unavailable` at once, and keeps no result: the
            // refresh never started, so the next request may start it.
            if submit(.refresh(spending)) != nil {
                let waiters = refreshes.withLockedValue { $0.abandon(spending.id) }
                metrics.refresh("error")
                for waiter in waiters { waiter(.unavailable) }
            }
            return .pending
        }
    }

    /// The refresh job (`LoginProfile+Worker`): asks the provider (with a store, as the
    /// fleet's single flight lets it: `+FleetRefresh`), then settles.
    func performRefresh(_ session: LoginSession) async {
        if let fleet = fleetStore {
            settleRefresh(session, with: await fleetRefresh(session, fleet: fleet))
        } else {
            settleRefresh(session, with: await requestRefresh(session))
        }
    }

    /// The refresh of `session` ended in `result`: kept for the grace, counted, the session
    /// ended if the provider refused it, and every request waiting on it answered.
    func settleRefresh(_ session: LoginSession, with result: RefreshResult) {
        let waiters = refreshes.withLockedValue { $0.settle(session.id, with: result, now: .now) }
        switch result {
        case .refreshed: metrics.refresh("success")
        case .ended:
            metrics.refresh("refused")
            end(session, now: WallClock.secondsSinceEpoch())
        case .unavailable, .storeUnavailable: metrics.refresh("error")
        }
        for waiter in waiters { waiter(result) }
    }

    /// One refresh token request to the provider for `session`.
    func requestRefresh(_ session: LoginSession) async -> RefreshResult {
        guard let (client, resolver) = attached, let endpoint = tokenEndpoint, let refreshToken = session.refreshToken else { return .unavailable }
        guard let post = tokenRequest([("grant_type", "refresh_token"), ("refresh_token", refreshToken)], endpoint: endpoint, resolver: resolver) else {
            return .unavailable
        }
        switch await client.send(post, timeout: config.timeout, caFile: config.caFile) {
        case .success(let issued):
            let now = WallClock.secondsSinceEpoch()
            var refreshed = session
            refreshed.accessToken = issued.accessToken.revealed
            refreshed.accessTokenExpiresAt = issued.expiresIn.map { now + Int($0.components.seconds) }
            // Rotation: a new refresh token replaces the old; without one, the old stays.
            if let rotated = issued.refreshToken { refreshed.refreshToken = rotated.revealed }
            refreshed.seenAt = now
            return .refreshed(refreshed)
        case .failure(let error):
            // Any refusal ends the session, an empty-bodied 400 as much as `invalid_grant`:
            // asking again with the same refresh token would be refused for ever.
            if error.isRefusal { return .ended }
            return .unavailable
        }
    }
}
