import NIOConcurrencyHelpers

/// Runs a call to the store with a deadline that holds even when the call does not
/// listen to cancellation. postgres-nio waits for a query's answer without looking at
/// its task's cancellation, so a task group would wait out a silent socket (a failed-over
/// server's old address: minutes of TCP retransmission). Here the caller gets its answer,
/// or `StoreProblem.timedOut`, at the deadline; the call goes on in a task of its own and
/// is cancelled, and ends when the connection does (the server's `statement_timeout`, the
/// pool's keep-alive).
enum StoreDeadline {
    static func run<Result: Sendable>(
        within limit: Duration, _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let outcome = NIOLockedValueBox<CheckedContinuation<Result, any Error>?>(nil)
        let work = NIOLockedValueBox<Task<Void, Never>?>(nil)
        return try await withTaskCancellationHandler {
            try await start(within: limit, body, outcome: outcome, work: work)
        } onCancel: {
            // The caller is leaving (shutdown): answer it now, and stop the call.
            work.withLockedValue { $0 }?.cancel()
            outcome.withLockedValue { $0.take() }?.resume(throwing: CancellationError())
        }
    }

    private static func start<Result: Sendable>(
        within limit: Duration, _ body: @escaping @Sendable () async throws -> Result,
        outcome: NIOLockedValueBox<CheckedContinuation<Result, any Error>?>, work: NIOLockedValueBox<Task<Void, Never>?>
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
            outcome.withLockedValue { $0 = continuation }
            let timer = Task {
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled, let waiting = outcome.withLockedValue({ $0.take() }) else { return }
                work.withLockedValue { $0 }?.cancel()
                waiting.resume(throwing: StoreProblem.timedOut)
            }
            let started = Task {
                let result: Swift.Result<Result, any Error>
                do {
                    result = .success(try await body())
                } catch {
                    result = .failure(error)
                }
                timer.cancel()
                outcome.withLockedValue { $0.take() }?.resume(with: result)
            }
            work.withLockedValue { $0 = started }
            // Cancelled while this was being set up: `onCancel` may have answered already
            // (before the work existed to be cancelled); either way the work stops.
            if Task.isCancelled {
                started.cancel()
                timer.cancel()
                outcome.withLockedValue { $0.take() }?.resume(throwing: CancellationError())
            }
        }
    }
}
