import NIOConcurrencyHelpers
import Synchronization

/// The bearer tokens revoked (`POST /revoke`, `tokengate revoke`, or another replica
/// through the store), each until it would have expired anyway: the snapshot admission
/// reads on every validated request without waiting on anything.
///
/// While none is in force, `contains` is one relaxed atomic load, so a gateway that never
/// revokes a token (or has no store) pays nothing measurable on the hot path. Keys are
/// `TokenCacheKey`s, which admission has already computed for its caches. Growth is
/// bounded by `capacity`; past it the oldest-expiring entries are not dropped, the new one
/// is refused and counted, and the caller says so (a revocation is never silently lost).
final class TokenRevocations: Sendable {
    static let defaultCapacity = 250_000

    private let count = Atomic<Int>(0)
    private let entries: NIOLockedValueBox<[TokenCacheKey: Int]>
    let capacity: Int

    init(capacity: Int = TokenRevocations.defaultCapacity) {
        self.capacity = max(1, capacity)
        self.entries = NIOLockedValueBox([:])
    }

    /// Whether any token is recorded (checked first, so the clock is read only then).
    @inline(__always)
    var holdsAny: Bool { count.load(ordering: .relaxed) > 0 }

    /// Whether `key`'s token is revoked at `now` (seconds since the epoch).
    func contains(_ key: TokenCacheKey, now: Int) -> Bool {
        entries.withLockedValue { ($0[key] ?? Int.min) > now }
    }

    /// Records a revoked token until `until`; false when at `capacity` (nothing recorded).
    @discardableResult
    func insert(_ key: TokenCacheKey, until: Int, now: Int) -> Bool {
        entries.withLockedValue { entries in
            if entries.count >= capacity { entries = entries.filter { $0.value > now } }
            if let existing = entries[key] {
                entries[key] = max(existing, until)
            } else {
                guard entries.count < capacity else { return false }
                entries[key] = until
            }
            count.store(entries.count, ordering: .relaxed)
            return true
        }
    }

    /// Drops the entries whose time is over (the store's poll calls this).
    func sweep(now: Int) {
        entries.withLockedValue { entries in
            guard entries.contains(where: { $0.value <= now }) else { return }
            entries = entries.filter { $0.value > now }
            count.store(entries.count, ordering: .relaxed)
        }
    }

    /// Tokens revoked and in force (status).
    var inForce: Int { count.load(ordering: .relaxed) }
}
