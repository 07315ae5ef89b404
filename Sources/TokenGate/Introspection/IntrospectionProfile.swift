#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
import Logging
import NIOConcurrencyHelpers

/// One introspection profile at run time: its bounded caches of answers and the calls in
/// flight. Requests read the cache under a short lock; a miss joins the call already in
/// flight for that token or queues one, so however many requests carry a token at once,
/// the endpoint sees one call.
///
/// Hostile load is bounded: at most `max_in_flight` calls run at once (past it a new token
/// is refused with 503 at once, never queued), and inactive answers live in a small cache
/// of their own, so a flood of random tokens can neither evict real ones nor grow memory.
final class IntrospectionProfile: Sendable {
    enum Lookup: Sendable {
        case answer(IntrospectionClaims)
        case failed(IntrospectionError)
        case pending
    }

    typealias Waiter = @Sendable (Lookup) -> Void

    typealias Key = TokenCacheKey

    /// A cached answer, and the digest of the `iss` of the token itself when it is a JWS
    /// (taken once, when the answer arrives), so that a route with a JWT profile tells that
    /// profile's tokens apart on a cache hit without parsing the token
    /// (`cached(key:unlessFrom:)`). A fixed-size digest, not the string: the `iss` of a
    /// random token from an unauthenticated client is its own choice, up to the header limit,
    /// and would otherwise sit in every inactive-cache entry.
    struct Entry {
        var claims: IntrospectionClaims
        var tokenIssuer: ShortDigest?

        init(claims: IntrospectionClaims, token: String) {
            self.claims = claims
            self.tokenIssuer = if case .success(let jwt) = CompactJWT.parse(token), let issuer = jwt.issuer { ShortDigest(issuer) } else { nil }
        }
    }

    private struct Inner {
        /// Active answers.
        var cache: LRUCache<Key, Entry>
        /// Inactive answers, apart: random tokens only ever evict each other.
        var negative: LRUCache<Key, Entry>
        var inFlight: [Key: [Waiter]] = [:]
        var hits = 0
        var misses = 0
        /// A reload dropped or replaced this profile: lookups fail at once.
        var stopped = false
    }

    let config: IntrospectionProfileConfig
    private let inner: NIOLockedValueBox<Inner>

    /// Forgets the cached answers for a revoked token.
    func evict(_ key: Key) {
        inner.withLockedValue { inner in
            inner.cache.removeValue(for: key)
            inner.negative.removeValue(for: key)
        }
    }
    private let queue: AsyncStream<(Key, String)>
    private let enqueue: AsyncStream<(Key, String)>.Continuation
    private let metrics: IntrospectionMetrics

    init(_ config: IntrospectionProfileConfig, metrics: IntrospectionMetrics) {
        self.config = config
        self.metrics = metrics
        self.inner = NIOLockedValueBox(Inner(
            cache: LRUCache(capacity: config.maxEntries), negative: LRUCache(capacity: config.negativeMaxEntries)
        ))
        (queue, enqueue) = AsyncStream.makeStream(of: (Key, String).self)
    }

    var name: String { config.name }

    func key(for token: String) -> Key { TokenCacheKey(token: token) }

    /// A cached answer, or `.pending` with `waiter` called once the call settles.
    func lookup(_ token: String, key: Key? = nil, at now: ContinuousClock.Instant = .now, waiter: @escaping Waiter) -> Lookup {
        let key = key ?? self.key(for: token)
        enum Step { case hit(IntrospectionClaims), join, start, stopped, overloaded }
        let step = inner.withLockedValue { inner -> Step in
            if let entry = inner.cache.value(for: key, at: now) ?? inner.negative.value(for: key, at: now) {
                inner.hits += 1
                return .hit(entry.claims)
            }
            inner.misses += 1
            if inner.stopped { return .stopped }
            if inner.inFlight[key] != nil {
                inner.inFlight[key]?.append(waiter)
                return .join
            }
            if inner.inFlight.count >= config.maxInFlight { return .overloaded }
            inner.inFlight[key] = [waiter]
            return .start
        }
        switch step {
        case .hit(let claims):
            metrics.hits.increment()
            return .answer(claims)
        case .start:
            metrics.misses.increment()
            enqueue.yield((key, token))
            return .pending
        case .join:
            metrics.misses.increment()
            return .pending
        case .stopped:
            return .failed(Self.reconfigured)
        case .overloaded:
            metrics.call("overloaded")
            return .failed(Self.overloaded)
        }
    }

    static let reconfigured = IntrospectionError(description: "the introspection profile was reconfigured; retry")
    static let overloaded = IntrospectionError(description: "too many introspection calls in flight")

    /// The cached answer for the token whose `key(for:)` is `key`, if any (the hot path,
    /// no waiter needed).
    ///
    /// `unlessFrom`: the route's JWT profile. No answer is given for a JWS whose `iss` is
    /// that profile's issuer: on such a route the JWT profile alone decides the token, and
    /// an answer cached because another route (this introspection profile without that JWT
    /// profile) had it introspected must not pass a JWT the profile refuses for its
    /// audience, `typ`, expiry or key.
    func cached(key: Key, at now: ContinuousClock.Instant = .now, unlessFrom jwt: JWTProfile? = nil) -> IntrospectionClaims? {
        let claims = inner.withLockedValue { inner -> IntrospectionClaims? in
            guard let entry = inner.cache.value(for: key, at: now) ?? inner.negative.value(for: key, at: now) else { return nil }
            if let jwt, jwt.isFromIssuer(digest: entry.tokenIssuer) { return nil }
            inner.hits += 1
            return entry.claims
        }
        if claims != nil { metrics.hits.increment() }
        return claims
    }

    /// `size` counts active answers, `inactive` the separate cache of inactive ones.
    var statistics: (size: Int, inactive: Int, inFlight: Int, hits: Int, misses: Int, evictions: Int) {
        inner.withLockedValue { ($0.cache.count, $0.negative.count, $0.inFlight.count, $0.hits, $0.misses, $0.cache.evictions) }
    }

    /// Serves queued calls until cancelled.
    func run(client: IntrospectionClient, resolver: SecretResolver, logger: Logger) async {
        var configured = logger
        configured[metadataKey: "tg.introspection"] = "\(name)"
        let logger = configured
        await withDiscardingTaskGroup { group in
            for await (key, token) in queue {
                group.addTask { await self.call(key, token, client: client, resolver: resolver, logger: logger) }
            }
        }
    }

    /// Stops `run` (its stream ends) and answers every request still waiting on a call,
    /// so none is left hanging on a profile a reload dropped.
    func finish() {
        let waiters = inner.withLockedValue { inner -> [Waiter] in
            inner.stopped = true
            defer { inner.inFlight.removeAll() }
            return inner.inFlight.values.flatMap { $0 }
        }
        enqueue.finish()
        for waiter in waiters { waiter(.failed(Self.reconfigured)) }
    }

    private func call(_ key: Key, _ token: String, client: IntrospectionClient, resolver: SecretResolver, logger: Logger) async {
        let result: Result<IntrospectionClaims, IntrospectionError>
        do {
            let secret = try resolver.resolve(config.clientSecret)
            result = await client.introspect(token, profile: config, clientSecret: secret)
        } catch {
            result = .failure(IntrospectionError(description: "introspection client secret unavailable: \(error.description)"))
        }
        let now = ContinuousClock.now
        // Built outside the lock: it parses the token for its `iss`.
        let entry: Entry? = if case .success(let claims) = result { Entry(claims: claims, token: token) } else { nil }
        let (waiters, evicted) = inner.withLockedValue { inner -> ([Waiter], Int) in
            let before = inner.cache.evictions
            if let entry {
                let claims = entry.claims
                if claims.active {
                    inner.cache.set(entry, for: key, expires: now + ttl(claims))
                } else {
                    inner.negative.set(entry, for: key, expires: now + ttl(claims))
                }
            }
            return (inner.inFlight.removeValue(forKey: key) ?? [], inner.cache.evictions - before)
        }
        if evicted > 0 { metrics.evictions.increment(by: Int64(evicted)) }
        switch result {
        case .success(let claims):
            metrics.call(claims.active ? "active" : "inactive")
            for waiter in waiters { waiter(.answer(claims)) }
        case .failure(let error):
            metrics.call("error")
            logger.warning("introspection failed", metadata: ["detail": "\(error.description)"])
            for waiter in waiters { waiter(.failed(error)) }
        }
    }

    /// How long an answer is reused: `min(exp - now, max_ttl)` for an active token (never
    /// past `exp`), `negative_ttl` for an inactive one.
    func ttl(_ claims: IntrospectionClaims) -> Duration {
        guard claims.active else { return config.negativeTTL }
        guard let expiresAt = claims.expiresAt else { return config.maxTTL }
        let remaining = Duration.seconds(expiresAt - WallClock.secondsSinceEpoch())
        return max(.zero, min(remaining, config.maxTTL))
    }
}
