import NIOCore

/// The deadline timers of one HTTP/2 connection's streams, handed from a stream that ended
/// to the next one. Each stream's `ProxyHandler` needs a timer; made and cancelled per
/// stream, it cost a scheduled callback and its cancellation (a linear search of the event
/// loop's scheduled tasks) every stream. A kept timer still has its callback pending, and
/// a new stream's deadline is later than the last one's, so it needs none.
///
/// Loop-bound, as its timers are. Holds at most `capacity` idle timers (a few: a busy
/// connection's streams come and go a few at a time, and every kept timer is memory the
/// connection holds and may be a callback in the loop's task heap); `cancelAll()` when the
/// connection goes.
final class DeadlineTimerPool {
    static let defaultCapacity = 8

    private let eventLoop: any EventLoop
    private let capacity: Int
    private var idle: [LazyDeadlineTimer] = []

    init(eventLoop: any EventLoop, capacity: Int) {
        self.eventLoop = eventLoop
        self.capacity = capacity
    }

    /// A timer with no deadline and no owner.
    func take() -> LazyDeadlineTimer {
        idle.popLast() ?? LazyDeadlineTimer(eventLoop: eventLoop)
    }

    /// `timer`'s owner is done with it.
    func give(_ timer: LazyDeadlineTimer) {
        guard idle.count < capacity else { return timer.cancel() }
        timer.detach()
        idle.append(timer)
    }

    func cancelAll() {
        for timer in idle { timer.cancel() }
        idle.removeAll()
    }
}
