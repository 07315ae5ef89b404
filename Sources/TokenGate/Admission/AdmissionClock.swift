/// The time as admission's rules need it: seconds since the epoch for claims (`exp`,
/// `nbf`, a session's timeouts), and the `ContinuousClock` instant the profiles' caches
/// and tokens are kept by. Passed in to every step of `Admission`, which never reads a
/// clock itself, so tests fix both and the rules are deterministic.
///
/// A live clock reads each clock only when a rule first asks for it, then keeps the value
/// for the step: a route that validates nothing and injects nothing pays no clock read, a
/// cache hit pays one of each at most (no more than before admission was a value).
struct AdmissionClock {
    private var seconds: Int?
    private var instant: ContinuousClock.Instant?

    /// The system clocks, each read when first needed.
    static var live: AdmissionClock { AdmissionClock(seconds: nil, instant: nil) }

    /// A fixed time (tests): `secondsSinceEpoch` for claims, `instant` for the caches.
    init(secondsSinceEpoch: Int, instant: ContinuousClock.Instant) {
        self.seconds = secondsSinceEpoch
        self.instant = instant
    }

    private init(seconds: Int?, instant: ContinuousClock.Instant?) {
        self.seconds = seconds
        self.instant = instant
    }

    /// Seconds since the epoch.
    mutating func now() -> Int {
        if let seconds { return seconds }
        let read = WallClock.secondsSinceEpoch()
        seconds = read
        return read
    }

    /// The instant the profiles' caches compare with.
    mutating func instantNow() -> ContinuousClock.Instant {
        if let instant { return instant }
        let read = ContinuousClock.now
        instant = read
        return read
    }
}
