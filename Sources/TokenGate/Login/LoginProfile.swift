import Logging
import NIOConcurrencyHelpers

/// One login profile at run time: its cookie keys, the provider's keys and endpoints (kept
/// by a JWT profile that checks ID tokens), the code exchange, and the sessions a logout
/// ended.
final class LoginProfile: Sendable {
    let config: LoginProfileConfig
    let cookies: LoginCookies
    let sealer: CookieSealer
    /// Checks ID tokens: the provider's keys, `aud` = the client id, no `typ` needed.
    let idTokens: JWTProfile
    let metrics: LoginMetrics
    /// Session ids ended by logout, remembered until their absolute end (sealed cookies
    /// cannot be recalled, so a replayed one must be recognised).
    private let ended: NIOLockedValueBox<LRUCache<String, Bool>>
    /// Provider session ids (`sid`) and subjects ended by back-channel logout, with when.
    private let endedByProvider: NIOLockedValueBox<LRUCache<String, Int>>
    /// The token client and secret resolver for code exchanges, set when the gateway
    /// starts the profile.
    private let exchangeContext = NIOLockedValueBox<(client: TokenEndpointClient, resolver: SecretResolver)?>(nil)
    /// Logout token ids seen (`jti`), until their `exp`: a replayed token does nothing.
    private let logoutTokens = NIOLockedValueBox(LRUCache<String, Bool>(capacity: 10_000))
    /// The `memory` store: sessions by id (the cookie then holds only the sealed id).
    let store: NIOLockedValueBox<LRUCache<String, LoginSession>>
    /// Refreshes in flight and their recent results, by session id.
    let refreshes = NIOLockedValueBox<[String: RefreshState]>([:])

    init(_ config: LoginProfileConfig, resolver: SecretResolver, metrics: GatewayMetrics) {
        self.config = config
        self.cookies = LoginCookies(secure: config.externalURL?.isTLS ?? true)
        self.sealer = CookieSealer(secrets: config.cookieKeys.compactMap { key in
            (try? resolver.resolve(key.secret)).map { (id: key.id, secret: Array($0.revealed.utf8)) }
        })
        var jwt = JWTProfileConfig(
            name: "login:" + config.name, issuer: config.issuer, jwksURL: config.jwksURL, algorithms: config.algorithms,
            audiences: [config.clientID], allowAnyAudience: false, clockSkew: config.clockSkew, types: ["jwt", "logout+jwt"], hmacSecret: nil,
            caFile: config.caFile, timeout: config.timeout, allowInsecureHTTP: config.allowInsecureHTTP, maxEntries: 1000,
            refreshInterval: .seconds(300), minRefresh: .seconds(60), maxRefresh: .seconds(86_400), unknownKidInterval: .seconds(10),
            startupWait: .seconds(15)
        )
        jwt.acceptsUntypedTokens = true
        let needsDiscovery = config.authorizationEndpoint == nil || config.tokenEndpoint == nil
        self.idTokens = JWTProfile(jwt, metrics: metrics.jwt("login:" + config.name), needsEndpoints: needsDiscovery)
        self.metrics = metrics.login(config.name)
        self.ended = NIOLockedValueBox(LRUCache(capacity: 100_000))
        self.endedByProvider = NIOLockedValueBox(LRUCache(capacity: 100_000))
        self.store = NIOLockedValueBox(LRUCache(capacity: config.sessionStore == .memory ? config.maxSessions : 1))
    }

    var name: String { config.name }

    /// Gives the profile what a code exchange needs (the gateway's token HTTP client).
    func attach(client: TokenEndpointClient, resolver: SecretResolver) {
        exchangeContext.withLockedValue { $0 = (client, resolver) }
    }

    var attached: (client: TokenEndpointClient, resolver: SecretResolver)? { exchangeContext.withLockedValue { $0 } }

    /// The provider's endpoints: configured, else discovered (nil until discovery ran).
    var authorizationEndpoint: UpstreamURL? { config.authorizationEndpoint ?? idTokens.providerMetadata?.authorizationEndpoint }
    var tokenEndpoint: UpstreamURL? { config.tokenEndpoint ?? idTokens.providerMetadata?.tokenEndpoint }
    var endSessionEndpoint: UpstreamURL? { config.endSessionEndpoint ?? idTokens.providerMetadata?.endSessionEndpoint }

    /// The session in a request's cookies, if it opens, is not ended, and has not timed out.
    func session(in cookies: [String: String], now: Int) -> LoginSession? {
        guard let sealed = self.cookies.sessionValue(cookies),
              let plaintext = sealer.open(sealed, cookieName: self.cookies.session)
        else { return nil }
        let found: LoginSession?
        if config.sessionStore == .memory {
            found = LoginSession.reference(plaintext).flatMap { id in store.withLockedValue { $0.value(for: id, at: .now) } }
        } else {
            found = LoginSession.decode(plaintext)
        }
        guard let session = found else { return nil }
        guard now < session.expiresAt, now < session.seenAt + Int(config.idleTimeout.components.seconds) else { return nil }
        if isEnded(session, now: .now) { return nil }
        return session
    }

    private func isEnded(_ session: LoginSession, now: ContinuousClock.Instant) -> Bool {
        if ended.withLockedValue({ $0.value(for: session.id, at: now) }) != nil { return true }
        return endedByProvider.withLockedValue { cache in
            let bySid = session.providerSessionID.flatMap { cache.value(for: "sid:" + $0, at: now) }
            let bySubject = cache.value(for: "sub:" + session.subject, at: now)
            return [bySid, bySubject].contains { ($0 ?? Int.min) >= session.loginAt }
        }
    }

    /// Remembers a logged-out session until its absolute end.
    func end(_ session: LoginSession, now: Int) {
        let remaining = Duration.seconds(max(1, session.expiresAt - now))
        ended.withLockedValue { $0.set(true, for: session.id, expires: .now + remaining) }
        if config.sessionStore == .memory { store.withLockedValue { $0.set(session, for: session.id, expires: .now) } }
    }

    /// Whether `jti` is new (and now remembered until `until`, seconds since the epoch).
    func rememberLogoutToken(_ jti: String, until: Int) -> Bool {
        let keep = Duration.seconds(max(60, until - WallClock.secondsSinceEpoch() + config.clockSkew))
        return logoutTokens.withLockedValue { cache in
            if cache.value(for: jti, at: .now) != nil { return false }
            cache.set(true, for: jti, expires: .now + keep)
            return true
        }
    }

    /// Takes over what `old` (the profile a reload replaces) knows of ended sessions, logout
    /// tokens and, with the same store, stored sessions: a reload must not bring a
    /// logged-out cookie back to life.
    func inherit(from old: LoginProfile) {
        ended.withLockedValue { $0 = old.ended.withLockedValue { $0 } }
        endedByProvider.withLockedValue { $0 = old.endedByProvider.withLockedValue { $0 } }
        logoutTokens.withLockedValue { $0 = old.logoutTokens.withLockedValue { $0 } }
        if config.sessionStore == .memory && old.config.sessionStore == .memory && config.maxSessions == old.config.maxSessions {
            store.withLockedValue { $0 = old.store.withLockedValue { $0 } }
        }
    }

    /// Sessions in the memory store (0 with the cookie store).
    var storedSessions: Int { store.withLockedValue { $0.count } }

    /// Ends every session of a provider session or subject logged in before `at`
    /// (milliseconds since the epoch; back-channel logout).
    func endByProvider(sid: String?, subject: String?, at: Int) {
        let keep = config.absoluteTimeout
        endedByProvider.withLockedValue { cache in
            if let sid { cache.set(at, for: "sid:" + sid, expires: .now + keep) }
            if let subject { cache.set(at, for: "sub:" + subject, expires: .now + keep) }
        }
    }

    /// The sealed session cookies for `session` (nil when it is too large for cookies). With
    /// the memory store the session is kept here and the cookie holds only its sealed id.
    func sessionCookies(_ session: LoginSession, present: Set<String>, now: Int) -> [(name: String, value: String)]? {
        var plaintext = session.encoded()
        if config.sessionStore == .memory {
            store.withLockedValue { $0.set(session, for: session.id, expires: .now + .seconds(max(1, session.expiresAt - now))) }
            plaintext = LoginSession.referenceBytes(session.id)
        }
        guard let sealed = sealer.seal(plaintext, cookieName: cookies.session) else { return nil }
        return cookies.setSession(sealed, maxAge: session.expiresAt - now, present: present)
    }

    /// Builds a new session from a validated ID token and the token response.
    func makeSession(claims: IntrospectionClaims, issued: IssuedToken, idToken: String, now: Int) -> LoginSession {
        var kept: [String: String] = [:]
        for (_, claim) in config.identityHeaders {
            if let value = claims.value(of: claim) { kept[claim] = value }
        }
        return LoginSession(
            id: LoginCookies.random(), subject: claims.subject ?? "", providerSessionID: claims.other["sid"], loginAt: WallClock.millisecondsSinceEpoch(), seenAt: now,
            expiresAt: now + Int(config.absoluteTimeout.components.seconds), claims: kept, accessToken: issued.accessToken.revealed,
            accessTokenExpiresAt: issued.expiresIn.map { now + Int($0.components.seconds) }, refreshToken: issued.refreshToken?.revealed,
            idToken: idToken
        )
    }
}

/// What a login step ends in, computed off the event loop (the code exchange) or on it.
enum LoginOutcome: Sendable {
    /// A redirect (302) with these `Set-Cookie`s.
    case redirect(location: String, cookies: [(name: String, value: String)])
    case refuse(GatewayError)
}
