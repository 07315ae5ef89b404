/// The time as admission's rules need it: seconds since the epoch for claims (`exp`,
/// `nbf`, a session's timeouts), and the `ContinuousClock` instant the profiles' caches
/// and tokens are kept by. Passed in to every step of `Admission`, which never reads a
/// clock itself, so tests fix both and the rules are deterministic.
///
/// A live clock reads the instant when the value is made (every route that has an
/// admission compares with it: a cache, a token, a session) and the wall clock when a rule
/// first asks for it, then keeps it for the step. The instant is not optional:
/// `ContinuousClock.Instant`'s layout is resilient, so an optional one is copied, tested
/// and destroyed through the runtime's generic witnesses, about 700 instructions per
/// request on a cache hit.
struct AdmissionClock {
    private var seconds: Int?
    /// The instant the profiles' caches and tokens compare with.
    let instant: ContinuousClock.Instant

    /// The system clocks: the instant now, the wall clock when first needed.
    static var live: AdmissionClock { AdmissionClock(seconds: nil, instant: .now) }

    /// A fixed time (tests): `secondsSinceEpoch` for claims, `instant` for the caches.
    init(secondsSinceEpoch: Int, instant: ContinuousClock.Instant) {
        self.seconds = secondsSinceEpoch
        self.instant = instant
    }

    private init(seconds: Int?, instant: ContinuousClock.Instant) {
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
}
