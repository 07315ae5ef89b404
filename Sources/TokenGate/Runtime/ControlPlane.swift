/// The gateway's long-running background work (token refresh loops, introspection calls,
/// the config file watcher) as children of one task, so that shutdown cancels and awaits
/// all of it. Work can be added while it runs (a reload starts new profiles' loops).
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

    /// Cancels every job and waits for all of them to end.
    func shutdown() async {
        submit.finish()
        task.cancel()
        await task.value
    }
}
