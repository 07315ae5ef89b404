/// Session refreshes by session id: which request needing one starts a token request,
/// which joins the one in flight, and which is answered from one just finished. Events in,
/// decisions out, both clocks passed in; the login profile owns it under a lock.
///
/// A finished refresh answers, for `grace`, only the requests that present a refresh token
/// it (or an earlier refresh of the session within the grace) spent: a page's parallel
/// requests, racing the rotated refresh token with the old cookie, get the winner's session
/// instead of spending the old token again (oauth2-proxy #1992, #1006). It never answers
/// with an access token past its expiry: the winner's session is refreshed again instead,
/// with its own current refresh token. A request that carries the cookie the refresh
/// produced (its new refresh token) gets the same result while its access token lives:
/// with access tokens no longer than the refresh-ahead window every such cookie is due at
/// once, and refreshing it would spend a refresh token seconds after it was issued, once
/// per request wave. Once that token has expired the new cookie refreshes as usual, so the
/// app is never handed an expired one.
struct SessionRefreshTable: Sendable {
    typealias RefreshResult = LoginProfile.RefreshResult
    typealias Waiter = @Sendable (RefreshResult) -> Void

    enum Step: Sendable {
        /// Answer the request with this now.
        case answer(RefreshResult)
        /// A refresh of the session is in flight; the waiter is called when it settles.
        case join
        /// Refresh this session (the request's, or for a straggler the newer one its
        /// session became); the waiter is called when it settles.
        case start(LoginSession)
    }

    private enum Entry: Sendable {
        /// `spent`: the refresh tokens this refresh and those before it within the grace spend.
        case inFlight([Waiter], spent: [String])
        case done(RefreshResult, at: ContinuousClock.Instant, spent: [String])
    }

    private var entries: [String: Entry] = [:]
    /// How long a finished refresh answers requests presenting a refresh token it spent (or,
    /// while its access token lives, the one it produced).
    let grace: Duration
    /// Sessions tracked at once; beyond, a refresh is `unavailable` (the old session stands
    /// while its token lasts).
    let maxEntries: Int
    /// Requests waiting on one refresh; beyond, `unavailable`.
    let maxWaiters: Int
    /// Refresh tokens remembered as spent per session (a chain of refreshes within the grace,
    /// with access tokens shorter than it).
    static let maxSpent = 8

    init(grace: Duration = LoginProfile.refreshGrace, maxEntries: Int = 10_000, maxWaiters: Int = JWTProfile.maxWaiting) {
        self.grace = grace
        self.maxEntries = maxEntries
        self.maxWaiters = maxWaiters
    }

    /// Sessions with a refresh in flight or finished within the grace.
    var count: Int { entries.count }

    /// A request with `session` needs a refresh. `now` orders refreshes (the grace);
    /// `wallNow`, seconds since the epoch, is what access token expiries are compared with.
    mutating func lookup(_ session: LoginSession, waiter: @escaping Waiter, now: ContinuousClock.Instant, wallNow: Int) -> Step {
        let grace = self.grace
        entries = entries.filter { entry in
            if case .done(_, let at, _) = entry.value { return now < at + grace }
            return true
        }
        switch entries[session.id] {
        case .inFlight(var waiters, let spent)?:
            guard waiters.count < maxWaiters else { return .answer(.unavailable) }
            waiters.append(waiter)
            entries[session.id] = .inFlight(waiters, spent: spent)
            return .join
        case .done(let result, _, let spent)?:
            // A straggler with a cookie the refresh replaced, or the cookie it produced.
            let replaced = session.refreshToken.map(spent.contains) ?? false
            guard case .refreshed(let newer) = result else {
                return replaced ? .answer(result) : start(session, waiter, spent: spent)
            }
            guard replaced || (session.refreshToken != nil && session.refreshToken == newer.refreshToken) else {
                // A cookie the table does not know: refresh as usual.
                return start(session, waiter, spent: spent)
            }
            // Never an access token past its expiry: refresh the winner's session instead.
            if (newer.accessTokenExpiresAt ?? Int.max) > wallNow { return .answer(result) }
            return start(newer, waiter, spent: spent)
        case nil:
            guard entries.count < maxEntries else { return .answer(.unavailable) }
            return start(session, waiter, spent: [])
        }
    }

    private mutating func start(_ session: LoginSession, _ waiter: @escaping Waiter, spent: [String]) -> Step {
        var spent = spent
        if let token = session.refreshToken, !spent.contains(token) { spent.append(token) }
        if spent.count > Self.maxSpent { spent.removeFirst(spent.count - Self.maxSpent) }
        entries[session.id] = .inFlight([waiter], spent: spent)
        return .start(session)
    }

    /// The refresh of session `id` could not even start (the profile's job queue is full,
    /// or the profile stopped): forgotten, so the next request tries again instead of
    /// being answered from a result no provider gave. Returns the waiters to call.
    mutating func abandon(_ id: String) -> [Waiter] {
        guard case .inFlight(let waiters, _)? = entries[id] else { return [] }
        entries[id] = nil
        return waiters
    }

    /// The refresh of session `id` settled with `result` at `now`: kept for the grace.
    /// Returns the waiters to call.
    mutating func settle(_ id: String, with result: RefreshResult, now: ContinuousClock.Instant) -> [Waiter] {
        guard case .inFlight(let waiters, let spent)? = entries[id] else { return [] }
        entries[id] = .done(result, at: now, spent: spent)
        return waiters
    }
}
