import NIOCore

/// A deadline that is cheap to move later. Keep-alive connections and exchanges move
/// their deadlines on every request; scheduling a task each time costs an allocation and
/// a heap operation, so this keeps one task pending and, when it fires before the current
/// deadline, re-arms it for the rest. Only moving the deadline earlier reschedules.
///
/// Deadlines are on the event loop's clock (`EventLoop.now`), so an `EmbeddedEventLoop`'s
/// `advanceTime` drives it in tests.
///
/// Loop-bound: use only on the event loop it was made with.
final class LazyDeadlineTimer {
    private let eventLoop: any EventLoop
    private var deadline: NIODeadline?
    private var scheduledAt: NIODeadline?
    private var task: Scheduled<Void>?
    /// Called on the event loop once the deadline has passed.
    var onExpiry: (() -> Void)?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Expire at `deadline` (replacing any earlier setting).
    func set(_ deadline: NIODeadline) {
        self.deadline = deadline
        if let scheduledAt, scheduledAt <= deadline { return }
        task?.cancel()
        schedule(at: deadline)
    }

    /// Expire nowhere; a pending task fires later and does nothing.
    func clear() {
        deadline = nil
    }

    /// Stops for good (the owner is going away).
    func cancel() {
        deadline = nil
        onExpiry = nil
        task?.cancel()
        task = nil
        scheduledAt = nil
    }

    private func schedule(at time: NIODeadline) {
        scheduledAt = time
        // A strong capture: the pending task keeps the timer alive until it runs or is
        // cancelled, and a weak one would cost the timer a side-table allocation.
        task = eventLoop.assumeIsolated().scheduleTask(deadline: time) { self.fired() }
    }

    private func fired() {
        task = nil
        scheduledAt = nil
        guard let deadline else { return }
        if deadline > eventLoop.now {
            schedule(at: deadline)
            return
        }
        self.deadline = nil
        onExpiry?()
    }
}
