import NIOCore

/// The instants and timeouts that say when a connection's current wait ends, owned by
/// `ConnectionStateMachine` (which alone knows which wait applies). Instants come from the
/// connection's event loop (`EventLoop.now`), so an embedded loop's `advanceTime` drives
/// them in tests exactly as the clock does in production.
struct ConnectionDeadlines: Equatable {
    /// The listener's `header_read_timeout_seconds`: from the first byte of a head to its end.
    let headTimeout: TimeAmount
    /// The listener's `idle_timeout_seconds`: how long a keep-alive connection may wait for
    /// its next request (also how long a closing answer's last bytes may wait for a client
    /// that does not read them).
    let keepAliveTimeout: TimeAmount
    /// Since when the connection has waited for a request (its previous answer went out).
    var waitingSince: NIODeadline
    /// When the first bytes of the head now being read arrived; nil while none is.
    /// A new connection starts with its accept instant: its first request is due promptly.
    var headStartedAt: NIODeadline?
    /// When the current request's head was complete: admission is counted from here.
    var requestStartedAt: NIODeadline
    /// When the current attempt's request had been written upstream completely.
    var requestSentAt: NIODeadline?
    /// When bytes of the current exchange last moved, in either direction.
    var lastActivity: NIODeadline
    /// The current route's response-header timeout (admission shares it).
    var responseHeaderTimeout = TimeAmount.zero
    /// The current route's idle timeout (bytes moving in either direction).
    var idleTimeout = TimeAmount.zero

    init(headTimeout: TimeAmount, keepAliveTimeout: TimeAmount, acceptedAt: NIODeadline) {
        self.headTimeout = headTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.waitingSince = acceptedAt
        self.headStartedAt = acceptedAt
        self.requestStartedAt = acceptedAt
        self.lastActivity = acceptedAt
    }

    /// A request head is complete: its exchange's waits count from `now`, with `facts`' timeouts.
    mutating func requestStarted(_ facts: ConnectionStateMachine.RequestFacts, at now: NIODeadline) {
        headStartedAt = nil
        requestStartedAt = now
        requestSentAt = nil
        lastActivity = now
        responseHeaderTimeout = facts.responseHeaderTimeout
        idleTimeout = facts.idleTimeout
    }

    /// The instant `wait` ends.
    func deadline(for wait: ConnectionStateMachine.Wait) -> NIODeadline {
        switch wait {
        case .head: return (headStartedAt ?? waitingSince) + headTimeout
        case .keepAlive: return waitingSince + keepAliveTimeout
        case .admission: return requestStartedAt + responseHeaderTimeout
        case .responseHead: return (requestSentAt ?? requestStartedAt) + responseHeaderTimeout
        case .idle: return lastActivity + idleTimeout
        }
    }
}
