import NIOConcurrencyHelpers
import NIOCore

/// Knows every open client connection and the listener it came through, so shutdown can
/// ask each to finish and close, a reload can retire those of a listener that moved, and
/// each listener's `max_connections` holds.
final class ConnectionTracker: Sendable {
    private struct Inner {
        var channels: [ObjectIdentifier: (channel: any Channel, listener: String)] = [:]
        /// Open connections per listener (kept beside `channels` so a limit check is O(1)).
        var perListener: [String: Int] = [:]
        /// Slots held by HTTP/2 streams beyond their connection's own (`reserveStreamSlot`).
        var streamSlots: [String: Int] = [:]
        /// Waiting for the count to reach zero (shutdown's drain).
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let inner = NIOLockedValueBox(Inner())

    /// Registers `channel` unless `limit` connections of `listener` are open already (then
    /// the caller closes it).
    @discardableResult
    func add(_ channel: any Channel, listener: String = "", limit: Int = .max) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = inner.withLockedValue { inner -> Bool in
            let open = inner.perListener[listener, default: 0]
            guard open + inner.streamSlots[listener, default: 0] < limit else { return false }
            inner.channels[id] = (channel, listener)
            inner.perListener[listener] = open + 1
            return true
        }
        guard admitted else { return false }
        // The closure holds no more than it must (every open connection keeps it): the
        // listener's name is read back from the entry.
        channel.closeFuture.whenComplete { [weak self] _ in
            let waiters = self?.inner.withLockedValue { inner -> [CheckedContinuation<Void, Never>] in
                guard let listener = inner.channels.removeValue(forKey: id)?.listener else { return [] }
                Self.decrement(&inner.perListener, listener)
                guard inner.channels.isEmpty else { return [] }
                defer { inner.drainWaiters.removeAll() }
                return inner.drainWaiters
            } ?? []
            for waiter in waiters { waiter.resume() }
        }
        return true
    }

    /// Takes a slot of `listener`'s limit for an HTTP/2 stream that runs beside others on
    /// its connection (the connection's own slot covers one stream): false when `limit`
    /// connections and such streams are open already.
    func reserveStreamSlot(listener: String, limit: Int) -> Bool {
        inner.withLockedValue { inner in
            let held = inner.streamSlots[listener, default: 0]
            guard inner.perListener[listener, default: 0] + held < limit else { return false }
            inner.streamSlots[listener] = held + 1
            return true
        }
    }

    /// Gives back a slot `reserveStreamSlot` took.
    func releaseStreamSlot(listener: String) {
        inner.withLockedValue { Self.decrement(&$0.streamSlots, listener) }
    }

    /// One fewer for `listener`; a count that reaches zero leaves the table.
    private static func decrement(_ counts: inout [String: Int], _ listener: String) {
        let left = counts[listener, default: 1] - 1
        counts[listener] = left > 0 ? left : nil
    }

    /// Client connections open (an HTTP/2 connection is one, whatever its streams).
    var count: Int { inner.withLockedValue { $0.channels.count } }

    /// Open connections per listener, by the name it was added under.
    var perListener: [String: Int] { inner.withLockedValue { $0.perListener } }

    /// Returns once no connection is open (at once if none is).
    func drained() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = inner.withLockedValue { inner -> Bool in
                if inner.channels.isEmpty { return true }
                inner.drainWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Asks every connection (or those of `listener`) to finish its current request and
    /// close: keep-alive connections close at once when idle, or after their response.
    func quiesceAll(listener: String? = nil) {
        let selected = inner.withLockedValue { inner in
            inner.channels.values.filter { listener == nil || $0.listener == listener }.map(\.channel)
        }
        for channel in selected {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func closeAll() {
        for entry in inner.withLockedValue({ Array($0.channels.values) }) {
            entry.channel.close(promise: nil)
        }
    }
}
