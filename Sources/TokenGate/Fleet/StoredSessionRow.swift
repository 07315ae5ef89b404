/// What the fleet's store holds of one login session, as a replica about to refresh it
/// reads it: the session the last refresh produced (or, with `session.store: "shared"`,
/// the session itself), the refresh tokens refreshes of it spent, and whether another
/// replica holds its refresh lease.
///
/// `decide` is the fleet half of refresh single-flight, a pure function of this row and
/// the session the request presented, tested without a store (`SessionRefreshTable` is
/// the replica's half: one refresh per session per replica).
struct StoredSessionRow: Sendable, Equatable {
    /// The stored session, opened (nil: none stored yet, or sealed with a key this replica
    /// lacks).
    var session: LoginSession?
    /// Bumped at every refresh published: a lease is taken only on the version read.
    var version: Int64
    /// Digests (`spentDigest`) of the refresh tokens the session's refreshes spent, oldest
    /// first, at most `maxSpent`.
    var spent: [String]
    /// The provider refused the last refresh: the session is over.
    var ended: Bool
    /// Seconds since the last refresh was published (nil: never).
    var refreshedAgo: Int?
    /// Another replica's lease is live: it is asking the provider now.
    var leasedByOther: Bool

    /// Refresh tokens remembered as spent per session.
    static let maxSpent = 8

    /// What a replica does with a session whose access token is due.
    enum Decision: Sendable, Equatable {
        /// Take this session: another replica refreshed the one presented.
        case adopt(LoginSession)
        /// A refresh of the presented session was refused: it is over.
        case ended
        /// Ask the provider with this session's refresh token, under the lease.
        case refresh(LoginSession)
    }

    /// The digest a spent refresh token is remembered by (never the token).
    static func spentDigest(_ refreshToken: String) -> String {
        ShortDigest("refresh-token:" + refreshToken).hex
    }

    /// What to do with `presenting` (the request's session, due for refresh). `shared`:
    /// the store holds the session itself (the cookie holds only its id), so the stored
    /// session is the truth; with cookie sessions it answers only a request presenting a
    /// refresh token it replaced, within `grace` seconds, as a replica's own table does.
    /// Never with an access token past its expiry at `wallNow`: the stored session is
    /// refreshed instead, with its own refresh token.
    static func decide(_ row: StoredSessionRow?, presenting: LoginSession, shared: Bool, grace: Int, wallNow: Int) -> Decision {
        guard let row else { return shared ? .ended : .refresh(presenting) }
        let replaced = presenting.refreshToken.map { row.spent.contains(spentDigest($0)) } ?? false
        if row.ended { return shared || replaced ? .ended : .refresh(presenting) }
        guard let stored = row.session else { return .refresh(presenting) }
        guard stored.refreshToken != presenting.refreshToken else {
            // The session the last refresh produced, presented again (a shared session read
            // after it, a cookie resealed with it): kept while its access token lives within
            // the grace, as a replica's own table does; refreshing it would spend a refresh
            // token issued seconds ago, once per wave of requests.
            if (row.refreshedAgo ?? Int.max) < grace, (stored.accessTokenExpiresAt ?? Int.max) > wallNow { return .adopt(stored) }
            return .refresh(shared ? stored : presenting)
        }
        let current = shared || (replaced && (row.refreshedAgo ?? Int.max) < grace)
        // A cookie the store does not know as replaced (made while the store was down):
        // its own refresh token is the one to spend.
        guard current else { return .refresh(presenting) }
        if (stored.accessTokenExpiresAt ?? Int.max) > wallNow { return .adopt(stored) }
        return .refresh(stored)
    }

    /// The spent list after a refresh of `session`: its refresh token added, the oldest
    /// beyond `maxSpent` dropped.
    func spending(_ session: LoginSession) -> [String] {
        var spent = self.spent
        if let token = session.refreshToken {
            let digest = Self.spentDigest(token)
            if !spent.contains(digest) { spent.append(digest) }
        }
        if spent.count > Self.maxSpent { spent.removeFirst(spent.count - Self.maxSpent) }
        return spent
    }
}
