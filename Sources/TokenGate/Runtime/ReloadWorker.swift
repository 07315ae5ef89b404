import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// Runs reloads one at a time, whoever asked (SIGHUP, the file watcher, `POST /reload`),
/// in the order asked. A request still queued at shutdown is answered as not done.
final class ReloadWorker: Service, Sendable, CustomStringConvertible {
    /// Receives a reload's outcome, once.
    typealias Reply = @Sendable (ReloadOutcome) -> Void
    typealias Request = (trigger: String, reply: Reply)

    typealias Perform = @Sendable (String) async -> ReloadOutcome

    private let requests: AsyncStream<Request>
    private let queue: AsyncStream<Request>.Continuation
    /// Set once the gateway exists (it owns this worker, so it cannot be passed in).
    private let performer = NIOLockedValueBox<Perform?>(nil)

    init() {
        (requests, queue) = AsyncStream.makeStream(of: Request.self)
    }

    var description: String { "reload worker" }

    /// What a reload does; set before the worker runs.
    func attach(_ perform: @escaping Perform) {
        performer.withLockedValue { $0 = perform }
    }

    /// Queues a reload; `reply` gets its outcome when it has run, or at once, as not
    /// done, when the worker has stopped. For callers that must not wait (an event loop).
    func submit(trigger: String, reply: @escaping Reply) {
        if case .terminated = queue.yield((trigger, reply)) {
            reply(Self.notDone(trigger))
        }
    }

    /// Queues a reload and waits for its outcome.
    func reload(trigger: String) async -> ReloadOutcome {
        await withCheckedContinuation { continuation in
            submit(trigger: trigger) { outcome in continuation.resume(returning: outcome) }
        }
    }

    func run() async {
        await withTaskCancellationOrGracefulShutdownHandler {
            for await request in requests {
                // A reload still queued when shutdown begins is refused, not run: the profiles'
                // loops are ending and a listener it bound would outlive the gateway.
                guard !Task.isCancelled, !Task.isShuttingDownGracefully, let perform = performer.withLockedValue({ $0 }) else {
                    request.reply(Self.notDone(request.trigger))
                    continue
                }
                let outcome = await perform(request.trigger)
                request.reply(outcome)
            }
        } onCancelOrGracefulShutdown: { [queue] in
            queue.finish()
        }
    }

    private static func notDone(_ trigger: String) -> ReloadOutcome {
        ReloadOutcome(trigger: trigger, time: WallClock.secondsSinceEpoch(), succeeded: false, version: "", errors: ["the gateway is shutting down"])
    }
}
