import NIOConcurrencyHelpers
import Synchronization

/// The bearer tokens revoked (`POST /revoke`, `tokengate revoke`, or another replica
/// through the store), each until it would have expired anyway: the snapshot admission
/// reads on every validated request without waiting on anything.
///
/// While none is in force, `holdsAny` is one relaxed atomic load, so a gateway that never
/// revokes a token (or has no store) pays nothing measurable on the hot path. Entries
/// leave when their time is over: the first lookup or insert after the earliest one ran
/// out sweeps them, so the count falls back to zero on its own. Keys are
/// `TokenCacheKey`s, which admission has already computed for its caches. Growth is
/// bounded by `capacity`: at it, a new entry is refused and the caller says so (a
/// revocation is never silently lost, and nothing in force is dropped to make room).
final class TokenRevocations: Sendable {
    static let defaultCapacity = 250_000

    private struct Entries {
        var until: [TokenCacheKey: Int] = [:]
        /// The earliest `until` among the entries (`Int.max` when empty).
        var earliest = Int.max

        mutating func sweep(now: Int) {
            guard earliest <= now else { return }
            until = until.filter { $0.value > now }
            earliest = until.values.min() ?? Int.max
        }
    }

    private let count = Atomic<Int>(0)
    private let entries = NIOLockedValueBox(Entries())
    let capacity: Int

    init(capacity: Int = TokenRevocations.defaultCapacity) {
        self.capacity = max(1, capacity)
    }

    /// Whether any token is recorded (checked first, so the clock is read only then).
    @inline(__always)
    var holdsAny: Bool { count.load(ordering: .relaxed) > 0 }

    /// Whether `key`'s token is revoked at `now` (seconds since the epoch).
    func contains(_ key: TokenCacheKey, now: Int) -> Bool {
        entries.withLockedValue { entries in
            if entries.earliest <= now {
                entries.sweep(now: now)
                count.store(entries.until.count, ordering: .relaxed)
            }
            return (entries.until[key] ?? Int.min) > now
        }
    }

    /// Records a revoked token until `until`; false when at `capacity` (nothing recorded).
    @discardableResult
    func insert(_ key: TokenCacheKey, until: Int, now: Int) -> Bool {
        entries.withLockedValue { entries in
            entries.sweep(now: now)
            if let existing = entries.until[key] {
                entries.until[key] = max(existing, until)
            } else {
                guard entries.until.count < capacity else { return false }
                entries.until[key] = until
                entries.earliest = min(entries.earliest, until)
            }
            count.store(entries.until.count, ordering: .relaxed)
            return true
        }
    }

    /// Drops the entries whose time is over.
    func sweep(now: Int) {
        entries.withLockedValue { entries in
            entries.sweep(now: now)
            count.store(entries.until.count, ordering: .relaxed)
        }
    }

    /// Tokens revoked and in force (status).
    var inForce: Int { count.load(ordering: .relaxed) }
}
