import NIOCore

/// A deadline that is cheap to move later. Keep-alive connections and exchanges move
/// their deadlines on every request; scheduling a task each time costs an allocation and
/// a heap operation, so this keeps one callback pending and, when it fires before the
/// current deadline, re-arms it for the rest. Only moving the deadline earlier reschedules.
///
/// The pending callback is NIO's `scheduleCallback`, with the timer itself as the handler:
/// on NIO's own event loops that allocates nothing, where a scheduled task allocates a
/// promise and three closures that every idle keep-alive connection held (about 300 bytes
/// of the memory per idle connection, `Benchmarks/idle-connection-memory.sh`).
///
/// Deadlines are on the event loop's clock (`EventLoop.now`), so an `EmbeddedEventLoop`'s
/// `advanceTime` drives it in tests.
///
/// Loop-bound: use only on the event loop it was made with. It is `Sendable` only so that
/// NIO may hold it as a callback handler; NIO calls it on that event loop.
final class LazyDeadlineTimer: NIOScheduledCallbackHandler, @unchecked Sendable {
    private let eventLoop: any EventLoop
    private var deadline: NIODeadline?
    private var scheduledAt: NIODeadline?
    private var pending: NIOScheduledCallback?
    /// Called on the event loop once the deadline has passed.
    var onExpiry: (() -> Void)?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Its event loop's clock.
    var now: NIODeadline { eventLoop.now }

    /// Expire at `deadline` (replacing any earlier setting).
    func set(_ deadline: NIODeadline) {
        self.deadline = deadline
        if let scheduledAt, scheduledAt <= deadline { return }
        pending?.cancel()
        schedule(at: deadline)
    }

    /// Expire nowhere; a pending callback fires later and does nothing.
    func clear() {
        deadline = nil
    }

    /// Stops for good (the owner is going away).
    func cancel() {
        deadline = nil
        onExpiry = nil
        pending?.cancel()
        pending = nil
        scheduledAt = nil
    }

    /// Forgets its deadline and owner but keeps a pending callback, for the next owner
    /// (`DeadlineTimerPool`): a later deadline then needs no new callback.
    func detach() {
        deadline = nil
        onExpiry = nil
    }

    private func schedule(at time: NIODeadline) {
        // The pending callback keeps the timer alive until it runs or is cancelled. An event
        // loop that has shut down takes none: nothing will run on it again anyway.
        scheduledAt = nil
        pending = nil
        guard let callback = try? eventLoop.scheduleCallback(at: time, handler: self) else { return }
        scheduledAt = time
        pending = callback
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        pending = nil
        scheduledAt = nil
        guard let deadline else { return }
        if deadline > self.eventLoop.now {
            schedule(at: deadline)
            return
        }
        self.deadline = nil
        onExpiry?()
    }
}
