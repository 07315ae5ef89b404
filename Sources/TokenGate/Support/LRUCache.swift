/// A bounded map that forgets the least recently used entry first, with a fixed expiry
/// per entry (a read refreshes recency, never the expiry). Not thread-safe: its owner
/// holds it behind a lock.
struct LRUCache<Key: Hashable, Value> {
    fileprivate struct Node {
        var key: Key
        var value: Value
        var expires: ContinuousClock.Instant
        var newer: Int
        var older: Int
    }

    let capacity: Int
    private var index: [Key: Int] = [:]
    private var nodes: [Node] = []
    private var freeSlots: [Int] = []
    private var newest = -1
    private var oldest = -1
    /// Entries pushed out to make room (not counting expiries).
    private(set) var evictions = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { index.count }

    /// The value for `key` if present and not expired at `now`; marks it most recently used.
    mutating func value(for key: Key, at now: ContinuousClock.Instant) -> Value? {
        guard let slot = index[key] else { return nil }
        if nodes[slot].expires <= now {
            remove(slot)
            return nil
        }
        moveToFront(slot)
        return nodes[slot].value
    }

    /// Stores `value` until `expires`, evicting the least recently used entry when full.
    mutating func set(_ value: Value, for key: Key, expires: ContinuousClock.Instant) {
        if let slot = index[key] {
            nodes[slot].value = value
            nodes[slot].expires = expires
            moveToFront(slot)
            return
        }
        if index.count >= capacity, oldest >= 0 {
            remove(oldest)
            evictions += 1
        }
        let node = Node(key: key, value: value, expires: expires, newer: -1, older: newest)
        let slot: Int
        if let free = freeSlots.popLast() {
            nodes[free] = node
            slot = free
        } else {
            nodes.append(node)
            slot = nodes.count - 1
        }
        if newest >= 0 { nodes[newest].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
        index[key] = slot
    }

    /// Forgets `key`'s entry, if there is one (a revoked token's cached answer).
    mutating func removeValue(for key: Key) {
        if let slot = index[key] { remove(slot) }
    }

    mutating func removeAll() {
        index.removeAll()
        nodes.removeAll()
        freeSlots.removeAll()
        newest = -1
        oldest = -1
    }

    private mutating func unlink(_ slot: Int) {
        let node = nodes[slot]
        if node.newer >= 0 { nodes[node.newer].older = node.older } else { newest = node.older }
        if node.older >= 0 { nodes[node.older].newer = node.newer } else { oldest = node.newer }
    }

    private mutating func moveToFront(_ slot: Int) {
        guard slot != newest else { return }
        unlink(slot)
        nodes[slot].older = newest
        nodes[slot].newer = -1
        if newest >= 0 { nodes[newest].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }

    private mutating func remove(_ slot: Int) {
        unlink(slot)
        index[nodes[slot].key] = nil
        freeSlots.append(slot)
    }
}

extension LRUCache: Sendable where Key: Sendable, Value: Sendable {}
extension LRUCache.Node: Sendable where Key: Sendable, Value: Sendable {}
