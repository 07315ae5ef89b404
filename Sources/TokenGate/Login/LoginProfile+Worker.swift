import Logging

// The login profile's control-plane loop: the work a login route asks of the provider
// (the code exchange, a session refresh, a back-channel logout token's check) is queued
// here by the event loop (`LoginJobQueue`, bounded) and run by `run(client:resolver:logger:)`
// in a task group, as an introspection profile runs its calls; no request starts a task.
extension LoginProfile {
    /// What a callback's code exchange needs: the code, the login attempt its state cookie
    /// sealed, the names of the cookies the request carried (the new session's cookies
    /// replace them), and the route, for the answers.
    struct CodeExchange: Sendable {
        let code: String
        let attempt: LoginAttempt
        let present: Set<String>
        let route: String
    }

    /// A back-channel logout token's fate: checked (the sessions it names are ended, or it
    /// was refused), or not checked because the profile could not take the work.
    enum BackchannelOutcome: Sendable {
        case checked(Result<Int, JWTAccessTokenRules.Refusal>)
        case unavailable(LoginUnavailable)
    }

    /// Queues a code exchange: nil, and `reply` gets the outcome from the control plane;
    /// or the answer now, when the queue is full or the profile stopped.
    func submitCodeExchange(_ exchange: CodeExchange, reply: @escaping @Sendable (LoginOutcome) -> Void) -> LoginOutcome? {
        guard let reason = submit(.codeExchange(exchange, reply: reply)) else { return nil }
        metrics.completed("exchange_failed")
        return .refuse(reason.answer(route: exchange.route))
    }

    /// Queues a back-channel logout token's check: nil, and `reply` gets the outcome from
    /// the control plane; or the answer now, when the queue is full or the profile stopped.
    func submitBackchannelLogout(_ token: String, reply: @escaping @Sendable (BackchannelOutcome) -> Void) -> BackchannelOutcome? {
        submit(.backchannelLogout(token: token, reply: reply)).map { .unavailable($0) }
    }

    /// Queues `job`: nil when queued, else why it cannot be (the caller answers).
    func submit(_ job: LoginJobQueue.Job) -> LoginUnavailable? {
        switch jobs.withLockedValue({ $0.submit(job) }) {
        case .queued(let id):
            // Should the loop have ended meanwhile, `finish()` answers the job instead.
            jobSignal.yield(id)
            return nil
        case .full:
            return .busy
        case .stopped:
            return .stopped
        }
    }

    /// Runs queued jobs until the profile is finished or the loop cancelled, then answers
    /// whatever is still queued. Also gives the profile its token client (`attach`).
    func run(client: TokenEndpointClient, resolver: SecretResolver, logger: Logger) async {
        attach(client: client, resolver: resolver)
        await withDiscardingTaskGroup { group in
            for await id in jobIDs {
                guard let job = jobs.withLockedValue({ $0.take(id) }) else { continue }
                group.addTask {
                    await self.perform(job)
                    self.jobs.withLockedValue { $0.done() }
                }
            }
        }
        finish()
    }

    /// Takes no more jobs and answers every one still queued as unavailable (a reload
    /// dropped the profile, or the gateway is stopping), so no request is left waiting.
    /// Jobs already running answer when they end.
    func finish() {
        let left = jobs.withLockedValue { $0.stop() }
        jobSignal.finish()
        for job in left { refuse(job, .stopped) }
    }

    private func perform(_ job: LoginJobQueue.Job) async {
        switch job {
        case .refresh(let session):
            await performRefresh(session)
        case .codeExchange(let exchange, let reply):
            reply(await complete(code: exchange.code, attempt: exchange.attempt, present: exchange.present, route: exchange.route))
        case .backchannelLogout(let token, let reply):
            reply(.checked(await backchannelLogout(token)))
        case .loadSession(let id):
            await performLoad(id)
        case .touchSession(let id, let seenAt):
            await fleetStore?.touchSession(storeKey(id), seenAt: seenAt)
        case .forgetSession(let id):
            await fleetStore?.forgetSession(storeKey(id))
        }
    }

    /// Answers a job that will not run.
    private func refuse(_ job: LoginJobQueue.Job, _ reason: LoginUnavailable) {
        switch job {
        case .refresh(let session):
            settleRefresh(session, with: .unavailable)
        case .codeExchange(let exchange, let reply):
            metrics.completed("exchange_failed")
            reply(.refuse(reason.answer(route: exchange.route)))
        case .backchannelLogout(_, let reply):
            reply(.unavailable(reason))
        case .loadSession(let id):
            finishLoad(id, with: .unavailable)
        case .touchSession, .forgetSession:
            break
        }
    }
}
