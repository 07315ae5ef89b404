/// One profile's token lifecycle as a value: events in, decisions out. Times are passed in,
/// so tests drive it event by event with a manual clock.
///
/// - A token is used until it expires; a refresh is due once `refreshFraction` of its
///   lifetime has passed (proportional, so 30-second tokens are not refetched on every
///   request the way a fixed 60-second skew would).
/// - Failures back off exponentially with jitter (1 s doubling to 60 s) and honour
///   `Retry-After`; a valid token stays in use meanwhile.
/// - With the password grant, a refresh token is used first; `invalid_grant` on it drops it
///   and the full password grant is tried at once.
struct TokenState {
    struct Token: Sendable {
        var value: Redacted
        /// The injected header's value, e.g. `Bearer <token>`, built once.
        var headerValue: Redacted
        var scope: String?
        var obtainedAt: ContinuousClock.Instant
        var refreshAt: ContinuousClock.Instant
        var expiresAt: ContinuousClock.Instant
    }

    enum Next: Equatable {
        case fetch(TokenRequest.Kind)
        case wait(until: ContinuousClock.Instant)
    }

    static let initialBackoff = Duration.seconds(1)
    static let maximumBackoff = Duration.seconds(60)

    let grant: CredentialProfileConfig.Grant
    let refreshFraction: Double
    let defaultLifetime: Duration
    let headerScheme: String

    private(set) var token: Token?
    private(set) var refreshToken: Redacted?
    private(set) var fetching = false
    private(set) var consecutiveFailures = 0
    private(set) var lastError: CredentialError?
    /// No attempt before this, after a failure.
    private(set) var retryAt: ContinuousClock.Instant?
    private(set) var lastSuccess: ContinuousClock.Instant?

    init(grant: CredentialProfileConfig.Grant, refreshFraction: Double, defaultLifetime: Duration, headerScheme: String) {
        self.grant = grant
        self.refreshFraction = refreshFraction
        self.defaultLifetime = defaultLifetime
        self.headerScheme = headerScheme
    }

    /// The token to inject now, if one is valid.
    func usableToken(at now: ContinuousClock.Instant) -> Token? {
        guard let token, now < token.expiresAt else { return nil }
        return token
    }

    /// Whether a request that finds no usable token should wait for a fetch (one is running
    /// or about to start) rather than be refused at once.
    func fetchImminent(at now: ContinuousClock.Instant) -> Bool {
        fetching || retryAt.map { now >= $0 } ?? true
    }

    /// What the refresher should do next (when no fetch is running).
    func next(at now: ContinuousClock.Instant) -> Next {
        if let retryAt, now < retryAt { return .wait(until: retryAt) }
        if let token, now < token.refreshAt { return .wait(until: token.refreshAt) }
        return .fetch(refreshToken != nil ? .refresh : (grant == .password ? .password : .clientCredentials))
    }

    mutating func fetchStarted() {
        fetching = true
    }

    mutating func fetchSucceeded(_ issued: IssuedToken, at now: ContinuousClock.Instant) {
        fetching = false
        let lifetime = issued.expiresIn ?? defaultLifetime
        let value = issued.accessToken
        token = Token(
            value: value,
            headerValue: Redacted(headerScheme.isEmpty ? value.revealed : headerScheme + " " + value.revealed),
            scope: issued.scope,
            obtainedAt: now,
            refreshAt: now + lifetime * refreshFraction,
            expiresAt: now + lifetime
        )
        // RFC 6749 §6: without a new refresh token the old one stays valid.
        if let refresh = issued.refreshToken { refreshToken = refresh }
        consecutiveFailures = 0
        lastError = nil
        retryAt = nil
        lastSuccess = now
    }

    /// Records a failed fetch of `kind`; `jitter` in 0...1 spreads retries of many gateways.
    mutating func fetchFailed(_ error: CredentialError, kind: TokenRequest.Kind, at now: ContinuousClock.Instant, jitter: Double) {
        fetching = false
        lastError = error
        if kind == .refresh, case .oauth(let code, _) = error.kind, code == "invalid_grant" {
            // The refresh token is spent or revoked: fall back to the full grant right away.
            refreshToken = nil
            retryAt = nil
            return
        }
        consecutiveFailures += 1
        // Permanent errors back off the same way: a rotated secret file or a fixed client
        // registration should be picked up soon, and the cap keeps the load small.
        var delay = min(Self.maximumBackoff, Self.initialBackoff * Int(1 << min(consecutiveFailures - 1, 16)))
        // "Equal jitter": half fixed, half random.
        delay = delay * 0.5 + delay * (0.5 * min(max(jitter, 0), 1))
        if let retryAfter = error.retryAfter { delay = max(delay, min(retryAfter, Self.maximumBackoff * 5)) }
        retryAt = now + delay
    }

    /// An upstream refused `value`. Drops it only if it is still the current token (so a
    /// burst of 401s for an old token does not throw away a fresh one). True if dropped.
    mutating func invalidate(_ value: Redacted) -> Bool {
        guard let token, token.value == value else { return false }
        self.token = nil
        retryAt = nil
        return true
    }
}
