/// One profile's token lifecycle as a value: events in, decisions out. Times are passed in,
/// so tests drive it event by event with a manual clock.
///
/// - A token is used until it expires; a refresh is due once `refreshFraction` of its
///   lifetime has passed (proportional, so 30-second tokens are not refetched on every
///   request the way a fixed 60-second skew would).
/// - Failures back off exponentially with jitter (1 s doubling to 60 s) and honour
///   `Retry-After`; a valid token stays in use meanwhile.
/// - When the authorization server issued a refresh token, it is used first; any refusal of
///   it (a 4xx, `invalid_grant` or not, empty body or not) drops it and the profile's own
///   grant is tried once, at once; backoff only if that fails too.
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
    /// A refresh never starts sooner than this after a token was obtained, whatever its
    /// lifetime (which the parser already clamps to at least 1 s): the schedule cannot spin.
    static let minimumRefreshInterval = Duration.seconds(1)
    /// The default of `unchallengedRejectionMinAge`.
    static let defaultUnchallengedRejectionMinAge = Duration.seconds(5)

    /// What an upstream's `WWW-Authenticate` said about a 401.
    enum Challenge: Equatable {
        /// `Bearer … error="invalid_token"`: the token itself was refused.
        case invalidToken
        /// No challenge at all.
        case none
        /// A challenge that blames something else (another scheme, `insufficient_scope`, …).
        case other
    }

    /// What to do about an upstream 401.
    enum Rejection: Equatable {
        /// Send the request again: another token is current, or a new one is on its way.
        case retry
        /// Pass the 401 on: it is not about the token, or a forced refresh happened too recently.
        case passThrough
    }

    let grant: CredentialProfileConfig.Grant
    let refreshFraction: Double
    let defaultLifetime: Duration
    let headerScheme: String
    /// An upstream 401 without any challenge counts as a token rejection only for a token
    /// at least this old: a fresh token is more likely refused for the upstream's own reasons.
    /// Default 5 s; set from `CredentialProfileConfig` (tests lengthen it rather than race it).
    let unchallengedRejectionMinAge: Duration

    private(set) var token: Token? {
        didSet {
            injection = token.map { Injection(value: $0.value, headerValue: $0.headerValue, expiresAt: Self.origin.duration(to: $0.expiresAt)) }
        }
    }
    /// What every injecting request reads of `token`, with its expiry as a `Duration` since
    /// `origin`: a `Token` holds `ContinuousClock.Instant`s, whose layout the standard
    /// library keeps resilient, so reading an optional one (even through `token?.`) copies
    /// the whole token through the runtime's generic witnesses, about 1,600 instructions.
    private var injection: Injection?

    private struct Injection {
        var value: Redacted
        var headerValue: Redacted
        var expiresAt: Duration
    }

    /// The instant `Injection.expiresAt` counts from.
    private static let origin = ContinuousClock.now
    private(set) var refreshToken: Redacted?
    private(set) var fetching = false
    private(set) var consecutiveFailures = 0
    private(set) var lastError: CredentialError?
    /// No attempt before this, after a failure.
    private(set) var retryAt: ContinuousClock.Instant?
    private(set) var lastSuccess: ContinuousClock.Instant?
    /// When an upstream 401 last dropped the token.
    private(set) var lastForcedRefresh: ContinuousClock.Instant?

    init(
        grant: CredentialProfileConfig.Grant, refreshFraction: Double, defaultLifetime: Duration, headerScheme: String,
        unchallengedRejectionMinAge: Duration = TokenState.defaultUnchallengedRejectionMinAge
    ) {
        self.grant = grant
        self.refreshFraction = refreshFraction
        self.defaultLifetime = defaultLifetime
        self.headerScheme = headerScheme
        self.unchallengedRejectionMinAge = unchallengedRejectionMinAge
    }

    /// The token to inject now, if one is valid.
    func usableToken(at now: ContinuousClock.Instant) -> Token? {
        guard let token, now < token.expiresAt else { return nil }
        return token
    }

    /// `usableToken`'s value and header value alone (`injection`).
    func usableValues(at now: ContinuousClock.Instant) -> (value: Redacted, headerValue: Redacted)? {
        guard let injection, Self.origin.duration(to: now) < injection.expiresAt else { return nil }
        return (injection.value, injection.headerValue)
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
            refreshAt: now + max(lifetime * refreshFraction, Self.minimumRefreshInterval),
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
        if Self.dropsRefreshToken(error, kind: kind) {
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

    /// Whether a failed fetch of `kind` gives up the refresh token: any refusal of a
    /// `refresh_token` grant (`CredentialError.isRefusal`). Not only RFC 6749's
    /// `invalid_grant`: a server that answers a dead refresh token `400` with an empty body
    /// would otherwise have the gateway send that token again with backoff for ever, serving
    /// 503, while it holds the grant that works. A 5xx, 429 or network failure keeps it.
    static func dropsRefreshToken(_ error: CredentialError, kind: TokenRequest.Kind) -> Bool {
        kind == .refresh && error.isRefusal
    }

    /// An upstream answered 401 to a request that carried `value`.
    ///
    /// It counts as the token being refused only when the challenge says `invalid_token`,
    /// or there is no challenge and the token is not brand new; an upstream that answers
    /// 401 for its own reasons must not make the gateway hammer the authorization server.
    /// A refused token that is still current is dropped (a new one is fetched) at most once
    /// per `minInterval`; the backoff after failures is kept. A burst of 401s for an old
    /// token never throws away a fresh one.
    mutating func upstreamRejected(
        _ value: Redacted, challenge: Challenge, at now: ContinuousClock.Instant, minInterval: Duration
    ) -> Rejection {
        guard challenge != .other else { return .passThrough }
        guard let token else { return .retry }
        guard token.value == value else { return .retry }
        if challenge == .none, now - token.obtainedAt < unchallengedRejectionMinAge { return .passThrough }
        if let last = lastForcedRefresh, now - last < minInterval { return .passThrough }
        lastForcedRefresh = now
        self.token = nil
        return .retry
    }

    /// Reads the `WWW-Authenticate` values of an upstream 401.
    static func challenge(_ values: [String]) -> Challenge {
        guard !values.isEmpty else { return .none }
        for value in values {
            // A field may carry several challenges (`Basic realm="x", Bearer error="…"`).
            let lower = value.lowercased()
            if lower.contains("bearer"), lower.contains("error=\"invalid_token\"") || lower.contains("error=invalid_token") {
                return .invalidToken
            }
        }
        return .other
    }
}
