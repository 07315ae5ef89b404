/// What a login profile must not forget before a given time: the ids of sessions a logout
/// ended (until the session's absolute end), the provider sessions and subjects a
/// back-channel logout ended, and the logout tokens (`jti`) already used (until their
/// `exp`). Sealed cookies cannot be recalled, so forgetting an entry early brings a
/// logged-out cookie copy back: entries leave by time only, never to make room for others
/// (an LRU did, after 100,000 other logouts).
///
/// Growth is bounded by real events: an entry is made only for a session that opened (a
/// valid sealed cookie) or a logout token whose signature verified, so nobody without a
/// session or the provider's key can add one. `capacity` is a safety cap on top: when it
/// is reached, `insert` says `.full` and records nothing, and the caller fails safe (ends
/// sessions rather than forgets a revocation). Keys are 16 bytes of SHA-256 of the id,
/// whatever its length. Times are seconds since the epoch, the clock sessions expire by;
/// expired entries are swept in buckets of a minute, so a sweep costs only what it removes.
struct RevocationList<Value: Sendable>: Sendable {
    /// 16 bytes of SHA-256 of an id.
    typealias Key = ShortDigest

    enum Insertion: Sendable, Equatable {
        case added
        /// Already there (and still in force); its time is now the later of the two.
        case present
        /// At `capacity`: nothing was recorded.
        case full
    }

    /// The entries' width of a sweep bucket, in seconds.
    static var bucketSeconds: Int { 60 }

    let capacity: Int
    private var entries: [Key: (value: Value, until: Int)] = [:]
    /// Keys by the minute their entry runs out (an entry whose time moved later stays in
    /// its old bucket too, and is kept when that bucket is swept).
    private var buckets: [Int: [Key]] = [:]
    /// Buckets before this one are swept.
    private var nextBucket: Int?

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var count: Int { entries.count }

    /// The value recorded for `id`, if it is still in force at `now`.
    func value(for id: String, now: Int) -> Value? {
        value(key: Key(id), now: now)
    }

    func value(key: Key, now: Int) -> Value? {
        guard let entry = entries[key], now < entry.until else { return nil }
        return entry.value
    }

    /// Records `value` for `id` until `until` (a later time for an id already there wins;
    /// `value` replaces the old one).
    mutating func insert(_ value: Value, for id: String, until: Int, now: Int) -> Insertion {
        insert(value, key: Key(id), until: until, now: now)
    }

    /// Records `value` under a key computed elsewhere (another replica's, from the store).
    mutating func insert(_ value: Value, key: Key, until: Int, now: Int) -> Insertion {
        sweep(now: now)
        // Never in the past: its bucket must be one a sweep still reaches.
        let until = max(until, now + 1)
        if let entry = entries[key], now < entry.until {
            entries[key] = (value, max(entry.until, until))
            if until > entry.until { buckets[Self.bucket(until), default: []].append(key) }
            return .present
        }
        // An entry over but not yet swept gives its place; otherwise the cap holds.
        guard entries[key] != nil || entries.count < capacity else { return .full }
        entries[key] = (value, until)
        buckets[Self.bucket(until), default: []].append(key)
        return .added
    }

    /// Forgets every entry (when a watermark that covers them all takes their place).
    mutating func removeAll() {
        entries = [:]
        buckets = [:]
    }

    /// Drops the entries whose time is over: the buckets that ran out since the last sweep.
    mutating func sweep(now: Int) {
        let current = Self.bucket(now)
        // First use, or the clock went back: from here on.
        guard let from = nextBucket, from < current else {
            nextBucket = current
            return
        }
        // After a long pause (or a clock jump) look at the buckets there are, not at every
        // minute in between.
        let due: [Int] = current - from > buckets.count ? buckets.keys.filter { $0 < current } : Array(from..<current)
        for minute in due {
            guard let keys = buckets.removeValue(forKey: minute) else { continue }
            for key in keys {
                if let entry = entries[key], entry.until <= now { entries[key] = nil }
            }
        }
        nextBucket = current
    }

    /// The bucket of an entry running out at `time`: the minute after it, so a bucket is
    /// swept only once every entry in it is over.
    private static func bucket(_ time: Int) -> Int {
        let (minute, remainder) = time.quotientAndRemainder(dividingBy: bucketSeconds)
        return remainder > 0 ? minute + 1 : minute
    }
}

/// A login profile's memory of logouts: the sessions ended here, the provider sessions and
/// subjects ended by back-channel logout, and the logout tokens used, each a
/// `RevocationList` kept until it no longer matters. Events in, decisions out; the profile
/// holds it under a lock and passes the clock in.
///
/// When a list of ended sessions is full (`capacity`, far beyond real use), nothing is
/// forgotten: every session logged in until then ends instead (`endedThrough`), which
/// covers every entry, so the lists start empty again and everyone logs in once more. A
/// full list of logout tokens still lets a new token end its sessions, only without
/// remembering it: a replay of it could only log out again.
struct LoginRevocations: Sendable {
    /// Entries per list (2.5 times the 100,000 an LRU held before): some 60 bytes each, so
    /// a full list takes some 15 MB.
    static let defaultCapacity = 250_000

    private(set) var sessions: RevocationList<Bool>
    /// `sid:…` and `sub:…` → when the back-channel logout happened (ms since the epoch).
    private(set) var byProvider: RevocationList<Int>
    private(set) var logoutTokens: RevocationList<Bool>
    /// Every session logged in at or before this (ms since the epoch) is over.
    private(set) var endedThrough = Int.min
    /// How many times a full list ended every session.
    private(set) var overflows = 0

    init(capacity: Int = Self.defaultCapacity) {
        sessions = RevocationList(capacity: capacity)
        byProvider = RevocationList(capacity: capacity)
        logoutTokens = RevocationList(capacity: capacity)
    }

    /// Whether a logout ended `session` (`now`: seconds since the epoch).
    func isEnded(_ session: LoginSession, now: Int) -> Bool {
        if session.loginAt <= endedThrough { return true }
        if sessions.value(for: session.id, now: now) != nil { return true }
        let bySid = session.providerSessionID.flatMap { byProvider.value(for: "sid:" + $0, now: now) }
        let bySubject = byProvider.value(for: "sub:" + session.subject, now: now)
        return [bySid, bySubject].contains { ($0 ?? Int.min) >= session.loginAt }
    }

    /// Ends `session` until its absolute end (`nowMilliseconds`: the same clock as `now`).
    mutating func end(_ session: LoginSession, now: Int, nowMilliseconds: Int) {
        if sessions.insert(true, for: session.id, until: session.expiresAt, now: now) == .full {
            endAll(through: max(nowMilliseconds, session.loginAt))
        }
    }

    /// Ends the sessions of a provider session or subject logged in at or before `at` (ms),
    /// remembered until `until` (the absolute timeout from now).
    mutating func endByProvider(sid: String?, subject: String?, at: Int, until: Int, now: Int) {
        for key in [sid.map { "sid:" + $0 }, subject.map { "sub:" + $0 }].compactMap({ $0 }) {
            if byProvider.insert(at, for: key, until: until, now: now) == .full {
                endAll(through: at)
                return
            }
        }
    }

    /// Applies a revocation another replica made (from the store): the same entries
    /// `end` and `endByProvider` make, by the digest the row carries.
    mutating func apply(_ revocation: FleetRevocation, now: Int) {
        guard let key = ShortDigest(hex: revocation.key) else { return }
        switch revocation.kind {
        case .session:
            if sessions.insert(true, key: key, until: revocation.until, now: now) == .full { endAll(through: revocation.at) }
        case .sid, .sub:
            // A row read again (every poll overlaps the last) never moves a later logout back.
            let at = max(revocation.at, byProvider.value(key: key, now: now) ?? Int.min)
            if byProvider.insert(at, key: key, until: revocation.until, now: now) == .full { endAll(through: at) }
        case .token:
            break
        }
    }

    /// Whether logout token `jti` is new (and now remembered until `until`).
    mutating func rememberLogoutToken(_ jti: String, until: Int, now: Int) -> Bool {
        switch logoutTokens.insert(true, for: jti, until: until, now: now) {
        case .added, .full: return true
        case .present: return false
        }
    }

    private mutating func endAll(through milliseconds: Int) {
        endedThrough = max(endedThrough, milliseconds)
        sessions.removeAll()
        byProvider.removeAll()
        overflows += 1
    }
}
