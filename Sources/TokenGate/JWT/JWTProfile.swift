import FoundationEssentials
import JWTKit
import Logging
import NIOConcurrencyHelpers

/// One JWT profile at run time: the issuer's keys, kept fresh by `run`, and a bounded
/// cache of verified tokens.
///
/// A request's token is checked on its own event loop: a cache hit costs a lookup; a miss
/// costs one signature check (microseconds), then the token is cached until its `exp`.
/// Only a token whose `kid` is not in the key set waits, for one refetch of the set, and
/// such refetches happen at most once per `unknown_kid_interval_seconds`; kids still
/// unknown after it are remembered for that long, so forged tokens cannot make the
/// gateway hammer the issuer. A failed fetch keeps the keys it had.
final class JWTProfile: Sendable {
    enum Lookup: Sendable {
        case answer(IntrospectionClaims)
        /// Not a valid token: 401 with this reason.
        case refused(String)
        /// No key set could be had: 503.
        case failed(JWKSError)
        /// The waiter is called once a key set fetch settles.
        case pending
    }

    typealias Waiter = @Sendable (Lookup) -> Void

    /// A fetch's outcome, for `/status`.
    struct FetchRecord: Sendable {
        var time: Int
        var succeeded: Bool
        var detail: String
    }

    private struct Inner {
        /// Nil until a key set was fetched.
        var keys: JWTKeySet?
        var cache: LRUCache<TokenCacheKey, IntrospectionClaims>
        /// Kids that were still unknown after a refetch, for `unknownKidInterval`.
        var unknownKids = LRUCache<String, Bool>(capacity: 1024)
        var waiting: [(token: String, waiter: Waiter)] = []
        /// Called once the first fetch settles (browser login waiting for endpoints).
        var loadWaiters: [@Sendable () -> Void] = []
        var lastUnknownKidFetch: ContinuousClock.Instant?
        var discovered: JWKSClient.ProviderMetadata?
        var lastFetch: FetchRecord?
        var lastError: JWKSError?
        var nextRefresh: Int?
        var hits = 0
        var misses = 0
        var stopped = false
    }

    /// Requests waiting for a key set fetch at once; past it, 503 at once.
    static let maxWaiting = 1024

    let config: JWTProfileConfig
    let metrics: JWTMetrics
    private let inner: NIOLockedValueBox<Inner>

    /// Forgets the cached claims of a revoked token.
    func evict(_ key: TokenCacheKey) {
        inner.withLockedValue { $0.cache.removeValue(for: key) }
    }
    private let wake = WakeSignal()
    private let createdAt = ContinuousClock.now
    private let acceptedTypes: [String]
    /// `config.issuer` digested once, for `isFromIssuer(digest:)` on the cache-hit path.
    private let issuerDigest: ShortDigest

    /// Discovery runs even with a configured `jwks_uri` (browser login needs the
    /// provider's endpoints from the same document).
    let needsEndpoints: Bool

    /// The provider's metadata, once discovered.
    var providerMetadata: JWKSClient.ProviderMetadata? { inner.withLockedValue { $0.discovered } }

    init(_ config: JWTProfileConfig, metrics: JWTMetrics, needsEndpoints: Bool = false) {
        self.config = config
        self.needsEndpoints = needsEndpoints
        self.metrics = metrics
        self.inner = NIOLockedValueBox(Inner(cache: LRUCache(capacity: config.maxEntries)))
        self.acceptedTypes = config.types.map(Self.normalizedType)
        self.issuerDigest = ShortDigest(config.issuer)
    }

    var name: String { config.name }

    /// Ready for traffic: the key set is loaded, or readiness has waited long enough.
    var isReady: Bool {
        inner.withLockedValue { $0.keys != nil } || ContinuousClock.now >= createdAt + config.startupWait
    }

    /// The cached claims of a verified token (the hot path).
    func cached(key: TokenCacheKey, at now: ContinuousClock.Instant = .now) -> IntrospectionClaims? {
        let claims = inner.withLockedValue { inner in
            let claims = inner.cache.value(for: key, at: now)
            if claims != nil { inner.hits += 1 }
            return claims
        }
        if claims != nil { metrics.hits.increment() }
        return claims
    }

    /// Whether `token` belongs to this profile: a JWS whose `iss` is this issuer. Others go
    /// to introspection when the route has it.
    func isFromIssuer(_ token: CompactJWT) -> Bool { token.issuer == config.issuer }

    /// The same for the `ShortDigest` of a token's `iss` taken earlier (nil: not a JWS, or
    /// no string `iss`): a comparison of two words, no hashing.
    func isFromIssuer(digest: ShortDigest?) -> Bool { digest == issuerDigest }

    /// Checks a token that missed the cache. `.pending` means `waiter` is called later;
    /// with no waiter, an unknown key is refused at once.
    func validate(_ jwt: CompactJWT, token: String, key: TokenCacheKey, waiter: Waiter?) -> Lookup {
        guard config.algorithms.contains(jwt.algorithm) else {
            return refuse("the token's signing algorithm is not accepted")
        }
        if jwt.type == nil && config.acceptsUntypedTokens {
            // An ID token (OpenID Connect sets no typ); its nonce and audience tell it apart.
        } else if !(jwt.type.map { acceptedTypes.contains(Self.normalizedType($0)) } ?? false) {
            return refuse("the token is not an access token (its typ is not \(config.types.joined(separator: " or ")))")
        }
        enum Step { case verify(any JWTAlgorithm), lookup(Lookup) }
        let step = inner.withLockedValue { inner -> Step in
            inner.misses += 1
            if inner.stopped { return .lookup(.failed(Self.reconfigured)) }
            guard let keys = inner.keys else {
                if let error = inner.lastError { return .lookup(.failed(error)) }
                return .lookup(Self.wait(&inner, token: token, waiter: waiter))
            }
            switch keys.verifier(kid: jwt.keyID, algorithm: jwt.algorithm) {
            case .found(let verifier): return .verify(verifier)
            case .wrongAlgorithm: return .lookup(.refused("the token's algorithm does not match its key"))
            case .ambiguous: return .lookup(.refused("the token names no key (kid) and more than one key could have signed it"))
            case .unknownKey:
                guard let kid = jwt.keyID else { return .lookup(.refused("no key of the issuer fits the token")) }
                let now = ContinuousClock.now
                let recentlyFetched = inner.lastUnknownKidFetch.map { now < $0 + config.unknownKidInterval } ?? false
                if waiter == nil || recentlyFetched || inner.unknownKids.value(for: kid, at: now) != nil {
                    inner.unknownKids.set(true, for: kid, expires: now + config.unknownKidInterval)
                    return .lookup(.refused(Self.unknownKey))
                }
                inner.lastUnknownKidFetch = now
                let lookup = Self.wait(&inner, token: token, waiter: waiter)
                if case .pending = lookup { wake.signal() }
                return .lookup(lookup)
            }
        }
        switch step {
        case .lookup(let lookup):
            switch lookup {
            case .refused(let reason): metrics.validation(reason == Self.unknownKey ? "unknown_key" : "invalid")
            case .failed: metrics.validation("unavailable")
            case .answer, .pending: break
            }
            return lookup
        case .verify(let verifier):
            guard (try? verifier.verify(jwt.signature, signs: jwt.signingInput)) == true else {
                return refuse("the token's signature is not valid")
            }
            let now = WallClock.secondsSinceEpoch()
            switch JWTAccessTokenRules(config).claims(of: jwt, now: now) {
            case .failure(let reason):
                return refuse(reason.description)
            case .success(let checked):
                let expires = ContinuousClock.now + .seconds(max(0, checked.expiresAt.map { $0 + config.clockSkew - now } ?? 0))
                inner.withLockedValue { $0.cache.set(checked, for: key, expires: expires) }
                metrics.validation("valid")
                return .answer(checked)
            }
        }
    }

    private func refuse(_ reason: String) -> Lookup {
        metrics.validation("invalid")
        return .refused(reason)
    }

    private static let unknownKey = "the token's key (kid) is not in the issuer's key set"
    static let reconfigured = JWKSError("the JWT profile was reconfigured; retry")

    private static func wait(_ inner: inout Inner, token: String, waiter: Waiter?) -> Lookup {
        guard let waiter else { return .failed(JWKSError("the issuer's key set is not loaded yet")) }
        guard inner.waiting.count < maxWaiting else { return .failed(JWKSError("too many requests are waiting for the issuer's key set")) }
        inner.waiting.append((token, waiter))
        return .pending
    }

    /// `typ` compared as RFC 8725 §3.11 and RFC 7515 §4.1.9 say: without case, and with
    /// `application/` optional.
    static func normalizedType(_ type: String) -> String {
        let lower = type.lowercased()
        return lower.hasPrefix("application/") ? String(lower.dropFirst("application/".count)) : lower
    }

    /// Stops `run` and answers every waiting request.
    func finish() {
        let (waiting, loaded) = inner.withLockedValue { inner -> ([(token: String, waiter: Waiter)], [@Sendable () -> Void]) in
            inner.stopped = true
            defer {
                inner.waiting.removeAll()
                inner.loadWaiters.removeAll()
            }
            return (inner.waiting, inner.loadWaiters)
        }
        wake.signal()
        for entry in waiting { entry.waiter(.failed(Self.reconfigured)) }
        for waiter in loaded { waiter() }
    }

    /// Keeps the key set fresh until cancelled or finished: fetches at once, then when
    /// `max-age` (bounded) or `refresh_seconds` says, sooner when an unknown `kid` asks;
    /// after a failure, retries with backoff and keeps the old keys.
    func run(client: JWKSClient, resolver: SecretResolver, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "tg.jwt"] = "\(name)"
        let hmacSecret: [UInt8]?
        switch self.hmacSecret(resolver) {
        case .success(let secret): hmacSecret = secret
        case .failure(let error):
            hmacSecret = nil
            logger.error("hmac_secret unavailable; HMAC-signed tokens are refused", metadata: ["detail": "\(error.description)"])
        }
        var failures = 0
        while !Task.isCancelled && !inner.withLockedValue({ $0.stopped }) {
            let delay: Duration
            switch await fetch(client: client, hmacSecret: hmacSecret) {
            case .success(let (keys, maxAge)):
                failures = 0
                delay = refreshDelay(maxAge: maxAge)
                install(keys, next: delay)
                metrics.fetch("success")
                logger.info("key set loaded", metadata: ["keys": "\(keys.keys.map(\.id).joined(separator: ","))", "skipped": "\(keys.skipped.count)"])
            case .failure(let error):
                failures += 1
                delay = Self.backoff(failures, ceiling: min(config.refreshInterval, .seconds(60)))
                recordFailure(error, next: delay)
                metrics.fetch("error")
                logger.warning("key set fetch failed; the keys loaded before stay", metadata: ["detail": "\(error.description)"])
            }
            settleWaiting()
            await wake.wait(until: .now + delay)
        }
    }

    /// Fetches the key set once and installs it (`tokengate jwks`): the key set and the
    /// `max-age` it came with.
    func loadOnce(client: JWKSClient, resolver: SecretResolver) async -> Result<(JWTKeySet, Duration?), JWKSError> {
        let secret: [UInt8]?
        switch hmacSecret(resolver) {
        case .success(let value): secret = value
        case .failure(let error): return .failure(error)
        }
        let result = await fetch(client: client, hmacSecret: secret)
        if case .success(let (keys, maxAge)) = result { install(keys, next: refreshDelay(maxAge: maxAge)) }
        return result
    }

    /// `max-age` within the profile's bounds, or `refresh_seconds` without one.
    private func refreshDelay(maxAge: Duration?) -> Duration {
        min(max(maxAge ?? config.refreshInterval, config.minRefresh), config.maxRefresh)
    }

    private func hmacSecret(_ resolver: SecretResolver) -> Result<[UInt8]?, JWKSError> {
        guard let reference = config.hmacSecret else { return .success(nil) }
        do {
            return .success(Array(try resolver.resolve(reference).revealed.utf8))
        } catch {
            return .failure(JWKSError("jwt.\(name).hmac_secret: \(error.description)"))
        }
    }

    /// 1 s, 2 s, 4 s … up to `ceiling`, less up to a fifth at random (so replicas spread).
    static func backoff(_ failures: Int, ceiling: Duration) -> Duration {
        let base = min(Duration.seconds(1 << min(failures - 1, 16)), ceiling)
        return base - base * Double.random(in: 0...0.2)
    }

    private func fetch(client: JWKSClient, hmacSecret: [UInt8]?) async -> Result<(JWTKeySet, Duration?), JWKSError> {
        var url = config.jwksURL ?? inner.withLockedValue { $0.discovered?.jwksURL }
        if url == nil || (needsEndpoints && inner.withLockedValue({ $0.discovered == nil })) {
            switch await client.discover(config) {
            case .success(let found):
                url = config.jwksURL ?? found.jwksURL
                inner.withLockedValue { $0.discovered = found }
            case .failure(let error):
                return .failure(error)
            }
        }
        guard let url else { return .failure(JWKSError("no jwks_uri")) }
        switch await client.keySet(url, profile: config) {
        case .failure(let error):
            // The issuer may have moved its keys: discover again next time.
            if config.jwksURL == nil { inner.withLockedValue { $0.discovered = nil } }
            return .failure(error)
        case .success(let fetched):
            switch await JWTKeySet.build(jwks: fetched.body, allowed: config.algorithms, hmacSecret: hmacSecret) {
            case .failure(let error): return .failure(error)
            case .success(let keys):
                guard !keys.keys.isEmpty || !keys.hmac.isEmpty else {
                    let reasons = keys.skipped.prefix(3).joined(separator: "; ")
                    return .failure(JWKSError("the key set has no usable key" + (reasons.isEmpty ? "" : " (\(reasons))")))
                }
                return .success((keys, fetched.maxAge))
            }
        }
    }

    /// Makes `keys` the profile's key set (the refresher after a fetch; tests, with a set they built).
    func install(_ keys: JWTKeySet, next: Duration) {
        let now = WallClock.secondsSinceEpoch()
        inner.withLockedValue { inner in
            // A key withdrawn from the set stops its tokens at once, cached or not.
            if let old = inner.keys, !old.keyIDs.isSubset(of: keys.keyIDs) { inner.cache.removeAll() }
            inner.keys = keys
            inner.lastError = nil
            inner.unknownKids.removeAll()
            inner.lastFetch = FetchRecord(time: now, succeeded: true, detail: "\(keys.keys.count) keys")
            inner.nextRefresh = now + Int(next.components.seconds)
        }
    }

    private func recordFailure(_ error: JWKSError, next: Duration) {
        let now = WallClock.secondsSinceEpoch()
        inner.withLockedValue { inner in
            if inner.keys == nil { inner.lastError = error }
            inner.lastFetch = FetchRecord(time: now, succeeded: false, detail: error.description)
            inner.nextRefresh = now + Int(next.components.seconds)
        }
    }

    /// Calls `waiter` once the first fetch has settled, or returns false (and never calls
    /// it) when it already has. Bounded like token waiters.
    func whenFirstFetchSettles(_ waiter: @escaping @Sendable () -> Void) -> Bool {
        inner.withLockedValue { inner in
            guard inner.keys == nil, inner.lastError == nil, !inner.stopped, inner.loadWaiters.count < Self.maxWaiting else { return false }
            inner.loadWaiters.append(waiter)
            return true
        }
    }

    /// Answers the requests that waited for this fetch: checked again, without waiting.
    private func settleWaiting() {
        let (waiting, loaded) = inner.withLockedValue { inner -> ([(token: String, waiter: Waiter)], [@Sendable () -> Void]) in
            defer {
                inner.waiting.removeAll()
                inner.loadWaiters.removeAll()
            }
            return (inner.waiting, inner.loadWaiters)
        }
        for waiter in loaded { waiter() }
        for entry in waiting {
            let key = TokenCacheKey(token: entry.token)
            switch CompactJWT.parse(entry.token) {
            case .success(let jwt): entry.waiter(validate(jwt, token: entry.token, key: key, waiter: nil))
            case .failure(let malformed): entry.waiter(.refused(malformed.description))
            }
        }
    }

    /// What `/status` shows.
    var status: (keys: [JWTKeySet.KeyInfo], skipped: [String], lastFetch: FetchRecord?, nextRefresh: Int?, jwksURL: String?, size: Int, hits: Int, misses: Int) {
        inner.withLockedValue { inner in
            (inner.keys?.keys ?? [], inner.keys?.skipped ?? [], inner.lastFetch, inner.nextRefresh,
             (config.jwksURL ?? inner.discovered?.jwksURL)?.description, inner.cache.count, inner.hits, inner.misses)
        }
    }
}
