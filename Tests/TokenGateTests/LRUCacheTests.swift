import Testing
@testable import TokenGate

/// The bounded cache behind introspection answers, verified JWTs and memory-store
/// sessions: recency, capacity, expiry and slot reuse, with a clock passed in.
@Suite("LRU cache")
struct LRUCacheTests {
    private let start = ContinuousClock.now
    private var later: ContinuousClock.Instant { start + .seconds(3600) }

    @Test("a full cache evicts the least recently used entry and counts the eviction")
    func evictsLeastRecentlyUsed() {
        var cache = LRUCache<String, Int>(capacity: 2)
        cache.set(1, for: "a", expires: later)
        cache.set(2, for: "b", expires: later)
        cache.set(3, for: "c", expires: later)
        #expect(cache.count == 2)
        #expect(cache.evictions == 1)
        #expect(cache.value(for: "a", at: start) == nil)
        #expect(cache.value(for: "b", at: start) == 2)
        #expect(cache.value(for: "c", at: start) == 3)
    }

    @Test("a read makes an entry the most recently used, so the other one goes first")
    func readRefreshesRecency() {
        var cache = LRUCache<String, Int>(capacity: 2)
        cache.set(1, for: "a", expires: later)
        cache.set(2, for: "b", expires: later)
        #expect(cache.value(for: "a", at: start) == 1)
        cache.set(3, for: "c", expires: later)
        #expect(cache.value(for: "a", at: start) == 1)
        #expect(cache.value(for: "b", at: start) == nil)
        #expect(cache.value(for: "c", at: start) == 3)
    }

    @Test("setting a present key replaces its value and expiry and makes it the most recent, without an eviction")
    func setReplacesInPlace() {
        var cache = LRUCache<String, Int>(capacity: 2)
        cache.set(1, for: "a", expires: later)
        cache.set(2, for: "b", expires: later)
        cache.set(10, for: "a", expires: start + .seconds(5))
        #expect(cache.count == 2)
        #expect(cache.evictions == 0)
        cache.set(3, for: "c", expires: later)
        #expect(cache.value(for: "b", at: start) == nil, "b was the least recently used after a was set again")
        #expect(cache.value(for: "a", at: start) == 10)
        #expect(cache.value(for: "a", at: start + .seconds(5)) == nil, "the new expiry applies")
    }

    @Test("an entry is gone from its expiry on; a read never extends the expiry; expiry is not an eviction")
    func expiryIsFixed() {
        var cache = LRUCache<String, Int>(capacity: 4)
        let expires = start + .seconds(10)
        cache.set(1, for: "a", expires: expires)
        #expect(cache.value(for: "a", at: start + .seconds(9)) == 1)
        #expect(cache.value(for: "a", at: expires) == nil)
        #expect(cache.count == 0, "an expired entry found by a read is removed")
        #expect(cache.evictions == 0)
    }

    @Test("slots freed by expiry are reused, and the order stays right across reuse")
    func slotsAreReused() {
        var cache = LRUCache<Int, Int>(capacity: 3)
        for key in 0..<3 { cache.set(key, for: key, expires: start + .seconds(1)) }
        for key in 0..<3 { #expect(cache.value(for: key, at: start + .seconds(2)) == nil) }
        for key in 10..<13 { cache.set(key, for: key, expires: later) }
        #expect(cache.count == 3)
        #expect(cache.evictions == 0)
        cache.set(13, for: 13, expires: later)
        #expect(cache.value(for: 10, at: start) == nil, "the oldest of the reused slots went first")
        for key in 11..<14 { #expect(cache.value(for: key, at: start) == key) }
        #expect(cache.evictions == 1)
    }

    @Test("a capacity below one holds one entry")
    func capacityIsAtLeastOne() {
        var cache = LRUCache<String, Int>(capacity: 0)
        #expect(cache.capacity == 1)
        cache.set(1, for: "a", expires: later)
        cache.set(2, for: "b", expires: later)
        #expect(cache.count == 1)
        #expect(cache.value(for: "a", at: start) == nil)
        #expect(cache.value(for: "b", at: start) == 2)
    }

    @Test("removeAll empties the cache, which then fills and evicts as a new one")
    func removeAllEmpties() {
        var cache = LRUCache<String, Int>(capacity: 2)
        cache.set(1, for: "a", expires: later)
        cache.set(2, for: "b", expires: later)
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(cache.value(for: "a", at: start) == nil)
        cache.set(3, for: "c", expires: later)
        cache.set(4, for: "d", expires: later)
        cache.set(5, for: "e", expires: later)
        #expect(cache.value(for: "c", at: start) == nil)
        #expect(cache.value(for: "d", at: start) == 4)
        #expect(cache.value(for: "e", at: start) == 5)
    }
}
