import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

// The gateway's long-running background work as swift-service-lifecycle `Service`s, run by
// the `ControlPlane` (which can take new ones while it runs: a reload starts the loops of
// new profiles). Each ends when its task is cancelled or graceful shutdown begins.

/// A profile with a control-plane loop: a credential profile keeps its token fresh, an
/// introspection profile serves its queued calls, a JWT profile keeps its key set fresh.
protocol BackgroundProfile: Sendable {
    associatedtype Client: Sendable
    func run(client: Client, resolver: SecretResolver, logger: Logger) async
}

extension CredentialProfile: BackgroundProfile {}
extension IntrospectionProfile: BackgroundProfile {}
extension JWTProfile: BackgroundProfile {}

/// Runs one profile's loop (`BackgroundProfile.run`) as a service.
struct ProfileLoop<Profile: BackgroundProfile>: Service {
    let profile: Profile
    let client: Profile.Client
    let resolver: SecretResolver
    let logger: Logger

    func run() async {
        await cancelWhenGracefulShutdown { [self] in
            await profile.run(client: client, resolver: resolver, logger: logger)
        }
    }
}

/// Watches the configuration file and reloads through the reload worker.
struct ConfigWatcherService: Service {
    let watcher: ConfigFileWatcher
    let group: any EventLoopGroup
    let reload: @Sendable (_ retry: Bool) async -> Bool

    func run() async {
        await cancelWhenGracefulShutdown { [self] in
            await watcher.run(group: group, reload)
        }
    }
}

/// Runs reloads one at a time, whoever asked (SIGHUP, the file watcher, `POST /reload`),
/// in the order asked. A request still queued at shutdown is answered as not done.
final class ReloadWorker: Service, Sendable {
    typealias Request = (trigger: String, reply: CheckedContinuation<ReloadOutcome, Never>)

    typealias Perform = @Sendable (String) async -> ReloadOutcome

    private let requests: AsyncStream<Request>
    private let submit: AsyncStream<Request>.Continuation
    /// Set once the gateway exists (it owns this worker, so it cannot be passed in).
    private let performer = NIOLockedValueBox<Perform?>(nil)

    init() {
        (requests, submit) = AsyncStream.makeStream(of: Request.self)
    }

    /// What a reload does; set before the worker runs.
    func attach(_ perform: @escaping Perform) {
        performer.withLockedValue { $0 = perform }
    }

    /// Queues a reload and waits for its outcome.
    func reload(trigger: String) async -> ReloadOutcome {
        await withCheckedContinuation { reply in
            if case .terminated = submit.yield((trigger, reply)) {
                reply.resume(returning: Self.notDone(trigger))
            }
        }
    }

    func run() async {
        await withTaskCancellationOrGracefulShutdownHandler {
            for await request in requests {
                guard !Task.isCancelled, let perform = performer.withLockedValue({ $0 }) else {
                    request.reply.resume(returning: Self.notDone(request.trigger))
                    continue
                }
                request.reply.resume(returning: await perform(request.trigger))
            }
        } onCancelOrGracefulShutdown: { [submit] in
            submit.finish()
        }
    }

    private static func notDone(_ trigger: String) -> ReloadOutcome {
        ReloadOutcome(trigger: trigger, time: WallClock.secondsSinceEpoch(), succeeded: false, version: "", errors: ["the gateway is shutting down"])
    }
}
