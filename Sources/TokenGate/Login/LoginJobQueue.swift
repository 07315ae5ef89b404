/// A login profile's work for the provider (session refreshes, code exchanges, back-channel
/// logout token checks), queued by requests on the event loops and run by the profile's
/// control-plane loop (`LoginProfile.run(client:resolver:logger:)`), never by a task of
/// its own. Events in, decisions out; the profile owns it under a lock.
///
/// Bounded: past `capacity` jobs queued or running, a new one is refused at once (the
/// request gets the 503 `login_unavailable`) rather than the queue growing under a flood.
/// Once stopped (a reload dropped the profile, or the gateway is shutting down) nothing is
/// taken, and `stop()` hands back every job still queued so that it is answered: nobody is
/// left waiting on a loop that ended.
struct LoginJobQueue: Sendable {
    /// One piece of work; `reply` is called exactly once, from the control plane.
    enum Job: Sendable {
        /// Refresh this session (the session refresh table's single flight settles it).
        case refresh(LoginSession)
        case codeExchange(LoginProfile.CodeExchange, reply: @Sendable (LoginOutcome) -> Void)
        case backchannelLogout(token: String, reply: @Sendable (LoginProfile.BackchannelOutcome) -> Void)
        /// Read this shared session from the fleet's store (`LoginProfile.loadSession`).
        case loadSession(String)
        /// Tell the fleet's store this shared session was used at `seenAt`.
        case touchSession(String, seenAt: Int)
        /// Delete this shared session's row (its logout).
        case forgetSession(String)
    }

    enum Submitted: Equatable {
        /// Queued under this id: the loop takes it by id (`take(_:)`).
        case queued(Int)
        /// `capacity` jobs are queued or running already.
        case full
        /// The profile's loop has ended or is ending.
        case stopped
    }

    /// The most jobs queued or running at once.
    let capacity: Int
    private var queued: [Int: Job] = [:]
    private var nextID = 0
    /// Jobs taken by the loop and not done yet.
    private(set) var running = 0
    private(set) var stopped = false

    static let defaultCapacity = 1024

    init(capacity: Int = Self.defaultCapacity) {
        self.capacity = capacity
    }

    /// Jobs queued and not taken yet.
    var waiting: Int { queued.count }

    mutating func submit(_ job: Job) -> Submitted {
        if stopped { return .stopped }
        guard queued.count + running < capacity else { return .full }
        let id = nextID
        nextID &+= 1
        queued[id] = job
        return .queued(id)
    }

    /// The loop starts job `id` (nil when `stop()` already handed it back).
    mutating func take(_ id: Int) -> Job? {
        guard !stopped, let job = queued.removeValue(forKey: id) else { return nil }
        running += 1
        return job
    }

    /// A job the loop took has answered.
    mutating func done() {
        running = max(0, running - 1)
    }

    /// Takes no more jobs; returns those still queued, to be answered as unavailable.
    mutating func stop() -> [Job] {
        stopped = true
        let left = queued.sorted { $0.key < $1.key }.map(\.value)
        queued.removeAll()
        return left
    }
}
