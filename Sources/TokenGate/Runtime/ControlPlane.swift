import ServiceLifecycle

/// Runs the gateway's long-running background work, the `Service`s of
/// `ControlPlaneServices.swift` (token refreshers, introspection workers, the file
/// watcher, the reload worker), as children of one task, so that shutdown cancels and
/// awaits all of it. A `ServiceGroup` cannot take services while it runs, and a reload
/// starts new profiles' services, so this runs them instead; each still ends on
/// cancellation or on its ServiceGroup's graceful shutdown.
final class ControlPlane: Sendable {
    typealias Job = @Sendable () async -> Void

    private let jobs: AsyncStream<Job>
    private let submit: AsyncStream<Job>.Continuation
    private let task: Task<Void, Never>

    init() {
        let (jobs, submit) = AsyncStream.makeStream(of: Job.self)
        self.jobs = jobs
        self.submit = submit
        self.task = Task {
            await withDiscardingTaskGroup { group in
                for await job in jobs {
                    group.addTask { await job() }
                }
            }
        }
    }

    func spawn(_ job: @escaping Job) {
        submit.yield(job)
    }

    /// Runs `service` until it ends or the control plane shuts down.
    func start(_ service: some Service) {
        spawn { try? await service.run() }
    }

    /// Cancels every job and waits for all of them to end.
    func shutdown() async {
        submit.finish()
        task.cancel()
        await task.value
    }
}
