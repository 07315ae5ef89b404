import Logging
import NIOConcurrencyHelpers

/// The live token of one credential profile, shared by every route and listener that
/// names it. Requests read the current token under a short lock that a fetch never holds
/// across I/O; one control-plane loop (`run`) does every fetch, so however many requests
/// arrive at once there is at most one token request in flight (single-flight).
final class CredentialProfile: Sendable {
    /// What a request gets when it asks for the token.
    enum Lookup: Sendable {
        case ready(TokenState.Token)
        /// No token and none coming soon: answer 503 with this `Retry-After`.
        case unavailable(CredentialError, retryAfter: Duration)
        /// A fetch is under way; the waiter will be called.
        case pending
    }

    /// Called once with the outcome of a pending lookup (from the control plane's thread:
    /// hop to your own event loop).
    typealias Waiter = @Sendable (Lookup) -> Void

    private struct Inner {
        var state: TokenState
        var waiters: [Waiter] = []
        /// Set when a reload drops this profile: its loop ends.
        var stopped = false
    }

    let config: CredentialProfileConfig
    private let inner: NIOLockedValueBox<Inner>
    private let wake = WakeSignal()
    private let metrics: CredentialMetrics
    /// The fleet's store, for a `shared` profile.
    private let fleet = NIOLockedValueBox<FleetStore?>(nil)

    init(_ config: CredentialProfileConfig, metrics: CredentialMetrics) {
        self.config = config
        self.metrics = metrics
        self.inner = NIOLockedValueBox(Inner(state: TokenState(
            grant: config.grant, refreshFraction: config.refreshFraction,
            defaultLifetime: config.defaultLifetime, headerScheme: config.headerScheme,
            unchallengedRejectionMinAge: config.unchallengedRejectionMinAge
        )))
    }

    var name: String { config.name }

    /// Shares this profile's token through the fleet's store (a `shared` profile only).
    func join(_ fleet: FleetStore?) {
        guard config.shared else { return }
        self.fleet.withLockedValue { $0 = fleet }
    }

    /// The profile's record in the store: the same name, endpoint, client, grant and
    /// parameters give the same token, so replicas share it; a changed one does not.
    var sharedKey: String {
        let parts = [name, config.tokenURL.description, config.clientID, config.grant.rawValue, config.scope ?? "", config.audience ?? "",
                     config.resource ?? "", config.username ?? "", config.extraParameters.sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value }.joined(separator: "&")]
        return ShortDigest(parts.joined(separator: "\n")).hex
    }

    /// The hot path: the current token if it is valid now.
    func currentToken(at now: ContinuousClock.Instant = .now) -> TokenState.Token? {
        inner.withLockedValue { $0.state.usableToken(at: now) }
    }

    /// The hot path of injection: what `currentToken` would give, only the token and the
    /// header value (`TokenState.usableValues`).
    func currentValues(at now: ContinuousClock.Instant) -> (value: Redacted, headerValue: Redacted)? {
        inner.withLockedValue { $0.state.usableValues(at: now) }
    }

    /// The slow path, when `currentToken` found none: either an answer now, or `.pending`
    /// and `waiter` is called when the fetch under way settles.
    func lookup(at now: ContinuousClock.Instant = .now, waiter: @escaping Waiter) -> Lookup {
        let result = inner.withLockedValue { inner -> Lookup in
            if let token = inner.state.usableToken(at: now) { return .ready(token) }
            if inner.state.fetchImminent(at: now) {
                inner.waiters.append(waiter)
                return .pending
            }
            return Self.refusal(inner.state, at: now)
        }
        if case .pending = result { wake.signal() }
        return result
    }

    /// An upstream answered 401 to a request carrying `token`: whether to send it again
    /// (see `TokenState.upstreamRejected`). A dropped token wakes the refresher.
    func rejected(_ token: Redacted, challenge: TokenState.Challenge = .invalidToken, at now: ContinuousClock.Instant = .now) -> TokenState.Rejection {
        let (outcome, dropped) = inner.withLockedValue { inner -> (TokenState.Rejection, Bool) in
            let before = inner.state.token != nil
            let outcome = inner.state.upstreamRejected(token, challenge: challenge, at: now, minInterval: config.forcedRefreshMinInterval)
            return (outcome, before && inner.state.token == nil)
        }
        if dropped {
            metrics.forcedRefresh()
            wake.signal()
        }
        return outcome
    }

    /// A snapshot for status pages and tests.
    var state: TokenState { inner.withLockedValue { $0.state } }

    private static func refusal(_ state: TokenState, at now: ContinuousClock.Instant) -> Lookup {
        let error = state.lastError ?? CredentialError(kind: .network, detail: "no token has been obtained yet")
        let wait = state.retryAt.map { $0 - now } ?? .seconds(1)
        return .unavailable(error, retryAfter: max(wait, .seconds(1)))
    }

    // MARK: Control plane

    /// Ends `run` (a reload dropped or replaced this profile).
    func stop() {
        let waiters = inner.withLockedValue { inner -> [Waiter] in
            inner.stopped = true
            defer { inner.waiters.removeAll() }
            return inner.waiters
        }
        wake.signal()
        // Requests still waiting on a dropped profile are answered, not left hanging.
        let refusal = Lookup.unavailable(CredentialError(kind: .network, detail: "the credential profile was reconfigured; retry"), retryAfter: .seconds(1))
        for waiter in waiters { waiter(refusal) }
    }

    /// Keeps the token fresh until cancelled: fetches at start, refreshes at the refresh
    /// point, retries with backoff, and fetches at once when a request is waiting.
    func run(client: TokenEndpointClient, resolver: SecretResolver, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "tg.credential"] = "\(name)"
        while !Task.isCancelled, !inner.withLockedValue({ $0.stopped }) {
            let now = ContinuousClock.now
            let next = inner.withLockedValue { inner -> TokenState.Next in
                let next = inner.state.next(at: now)
                if case .fetch = next { inner.state.fetchStarted() }
                return next
            }
            switch next {
            case .wait(let deadline):
                await wake.wait(until: deadline)
            case .fetch(let kind):
                if let fleet = fleet.withLockedValue({ $0 }) {
                    await sharedFetch(kind, fleet: fleet, client: client, resolver: resolver, logger: logger)
                    continue
                }
                let result = await fetch(kind, client: client, resolver: resolver)
                if Task.isCancelled { return }
                settle(result, kind: kind, logger: logger)
            }
        }
    }

    /// A shared profile's fetch: the fleet's newer token when there is one; else a token
    /// request under the profile's lease, stored for the others; else, while another
    /// replica holds the lease, a look again every 250 ms for at most the lease's length;
    /// and a token request of its own whenever the store cannot say.
    private func sharedFetch(_ kind: TokenRequest.Kind, fleet: FleetStore, client: TokenEndpointClient, resolver: SecretResolver, logger: Logger) async {
        let lease = config.timeout + .seconds(5)
        let giveUp = ContinuousClock.now + lease
        let key = sharedKey
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let wallNow = WallClock.secondsSinceEpoch()
            let holding = inner.withLockedValue { $0.state.token.map { wallNow + Int(($0.expiresAt - now).components.seconds) } }
            let step = ContinuousClock.now < giveUp ? await fleet.sharedStep(key, holding: holding, lease: lease) : .alone
            switch step {
            case .adopt(let issued):
                settle(.success(issued), kind: kind, logger: logger, fromFleet: true)
                return
            case .fetch:
                let result = await fetch(kind, client: client, resolver: resolver)
                if Task.isCancelled { return }
                // Requests waiting here get the token first; then the fleet does.
                settle(result, kind: kind, logger: logger)
                if case .success(let issued) = result {
                    let lifetime = issued.expiresIn ?? config.defaultLifetime
                    await fleet.publish(key, token: issued, expiresAt: WallClock.secondsSinceEpoch() + Int(lifetime.components.seconds))
                } else {
                    await fleet.release(key)
                }
                return
            case .wait:
                await wake.wait(until: .now + .milliseconds(250))
            case .alone:
                let result = await fetch(kind, client: client, resolver: resolver)
                if Task.isCancelled { return }
                settle(result, kind: kind, logger: logger)
                return
            }
        }
    }

    private func fetch(_ kind: TokenRequest.Kind, client: TokenEndpointClient, resolver: SecretResolver) async -> Result<IssuedToken, CredentialError> {
        let secret: Redacted
        var password: Redacted?
        do {
            secret = try resolver.resolve(config.clientSecret)
            if kind == .password, let reference = config.password { password = try resolver.resolve(reference) }
        } catch {
            return .failure(CredentialError(kind: .secretUnavailable, detail: "secret unavailable: \(error.description)"))
        }
        let refresh = kind == .refresh ? inner.withLockedValue { $0.state.refreshToken } : nil
        let request = TokenRequest.make(kind, profile: config, clientSecret: secret, password: password, refreshToken: refresh)
        return await client.send(request, timeout: config.timeout, caFile: config.caFile)
    }

    /// `fromFleet`: the token came from the store (another replica asked for it), not from
    /// a token request of this one.
    private func settle(_ result: Result<IssuedToken, CredentialError>, kind: TokenRequest.Kind, logger: Logger, fromFleet: Bool = false) {
        let now = ContinuousClock.now
        let (outcome, waiters) = inner.withLockedValue { inner -> (Lookup?, [Waiter]) in
            switch result {
            case .success(let issued): inner.state.fetchSucceeded(issued, at: now)
            case .failure(let error): inner.state.fetchFailed(error, kind: kind, at: now, jitter: Double.random(in: 0...1))
            }
            let outcome: Lookup?
            if let token = inner.state.usableToken(at: now) {
                outcome = .ready(token)
            } else if inner.state.fetchImminent(at: now) {
                outcome = nil  // another attempt follows at once (refresh token fell back); keep waiting
            } else {
                outcome = Self.refusal(inner.state, at: now)
            }
            guard outcome != nil else { return (nil, []) }
            defer { inner.waiters.removeAll() }
            return (outcome, inner.waiters)
        }
        switch result {
        case .success where fromFleet: metrics.sharedTokenTaken()
        case .success: metrics.tokenRequest("success")
        case .failure(let error): metrics.tokenRequest(error.kind.label)
        }
        switch result {
        case .success(let issued) where fromFleet:
            logger.debug("token taken from the fleet store", metadata: ["expires_in": "\(issued.expiresIn.map { "\($0.components.seconds)s" } ?? "-")"])
        case .success(let issued):
            logger.info("token obtained", metadata: [
                "grant": "\(kind)", "expires_in": "\(issued.expiresIn.map { "\($0.components.seconds)s" } ?? "absent, assumed \(config.defaultLifetime)")",
                "scope": "\(issued.scope ?? "-")",
            ])
        case .failure(let error):
            let retry = state.retryAt.map { "\(max(.zero, $0 - now))" } ?? "now"
            if TokenState.dropsRefreshToken(error, kind: kind) {
                // Not a configuration problem: the refresh token is given up and the profile's
                // own grant runs at once (`TokenState.fetchFailed`).
                logger.info("refresh token refused; using the profile's grant", metadata: ["detail": "\(error.detail)", "grant": "\(config.grant.rawValue)"])
            } else if error.isPermanent {
                logger.error("token request refused: configuration problem", metadata: ["detail": "\(error.detail)", "retry_in": "\(retry)"])
            } else {
                logger.warning("token request failed", metadata: ["detail": "\(error.detail)", "retry_in": "\(retry)"])
            }
        }
        if let outcome {
            for waiter in waiters { waiter(outcome) }
        }
    }
}
