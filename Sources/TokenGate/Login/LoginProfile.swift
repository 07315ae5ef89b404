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
    /// Session ids ended by logout, provider sessions and subjects ended by back-channel
    /// logout, and logout token ids seen, each until it no longer matters: sealed cookies
    /// cannot be recalled, so a replayed one must be recognised (bounded by time, with a
    /// safety cap that ends sessions rather than forgets; `LoginRevocations`).
    private let revocations: NIOLockedValueBox<LoginRevocations>
    /// The token client and secret resolver for code exchanges, set when the gateway
    /// starts the profile.
    private let exchangeContext = NIOLockedValueBox<(client: TokenEndpointClient, resolver: SecretResolver)?>(nil)
    /// The fleet's store, when there is one: every logout made here is queued for it.
    private let fleet = NIOLockedValueBox<FleetStore?>(nil)
    /// The `memory` store: sessions by id (the cookie then holds only the sealed id); with
    /// the `shared` store, the sessions this replica read from the fleet's store lately.
    let store: NIOLockedValueBox<LRUCache<String, LoginSession>>
    /// Reads of shared sessions in flight, by session id, with the requests waiting on each.
    let sharedLoads = NIOLockedValueBox<[String: [@Sendable (FleetStore.SessionRead) -> Void]]>([:])
    /// Refreshes in flight and their recent results, by session id.
    let refreshes = NIOLockedValueBox(SessionRefreshTable())
    /// Work for the provider (refreshes, code exchanges, logout token checks), run by the
    /// profile's control-plane loop (`+Worker`), bounded.
    let jobs: NIOLockedValueBox<LoginJobQueue>
    /// Wakes the loop with the id of each job queued.
    let jobIDs: AsyncStream<Int>
    let jobSignal: AsyncStream<Int>.Continuation

    /// `revocationCapacity`: the safety cap of each list of `LoginRevocations`;
    /// `maxJobs`: the most jobs for the provider queued or running at once (tests make
    /// them small).
    init(_ config: LoginProfileConfig, resolver: SecretResolver, metrics: GatewayMetrics,
         revocationCapacity: Int = LoginRevocations.defaultCapacity, maxJobs: Int = LoginJobQueue.defaultCapacity) {
        self.config = config
        self.jobs = NIOLockedValueBox(LoginJobQueue(capacity: maxJobs))
        (jobIDs, jobSignal) = AsyncStream.makeStream(of: Int.self)
        let scope = CookieScope(profile: config.name, issuer: config.issuer)
        self.cookies = LoginCookies(secure: config.externalURL?.isTLS ?? true, scope: scope)
        self.sealer = CookieSealer(secrets: config.cookieKeys.compactMap { key in
            (try? resolver.resolve(key.secret)).map { (id: key.id, secret: Array($0.revealed.utf8)) }
        }, scope: scope)
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
        self.revocations = NIOLockedValueBox(LoginRevocations(capacity: revocationCapacity))
        self.store = NIOLockedValueBox(LRUCache(capacity: config.sessionStore == .cookie ? 1 : config.maxSessions))
    }

    var name: String { config.name }

    /// Gives the profile what a code exchange needs (the gateway's token HTTP client).
    func attach(client: TokenEndpointClient, resolver: SecretResolver) {
        exchangeContext.withLockedValue { $0 = (client, resolver) }
    }

    /// Makes the profile tell the fleet's store of every logout made here.
    func join(_ fleet: FleetStore?) {
        self.fleet.withLockedValue { $0 = fleet }
    }

    var fleetStore: FleetStore? { fleet.withLockedValue { $0 } }

    var attached: (client: TokenEndpointClient, resolver: SecretResolver)? { exchangeContext.withLockedValue { $0 } }

    /// The provider's endpoints: configured, else discovered (nil until discovery ran).
    var authorizationEndpoint: UpstreamURL? { config.authorizationEndpoint ?? idTokens.providerMetadata?.authorizationEndpoint }
    var tokenEndpoint: UpstreamURL? { config.tokenEndpoint ?? idTokens.providerMetadata?.tokenEndpoint }
    var endSessionEndpoint: UpstreamURL? { config.endSessionEndpoint ?? idTokens.providerMetadata?.endSessionEndpoint }

    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2): the provider's
    /// end-session endpoint with `id_token_hint`, `post_logout_redirect_uri`, `client_id`
    /// and a fresh `state`, since some providers send the browser back to
    /// `post_logout_redirect_uri` only when a `state` came along. Nothing checks it on the
    /// way back: that return is a plain page load, and changes nothing.
    func endSessionLocation(_ endpoint: UpstreamURL, idToken: String, postLogout: String, state: String = LoginCookies.random()) -> String {
        let parameters = [("id_token_hint", idToken), ("post_logout_redirect_uri", postLogout), ("client_id", config.clientID), ("state", state)]
        let separator = endpoint.path.contains("?") ? "&" : "?"
        return endpoint.description + separator + FormEncoding.encode(parameters)
    }

    /// The session in a request's cookies, if it opens, is not ended, and has not timed out;
    /// with the `shared` store, `.stored` when this replica must read it first (it has not
    /// lately, or its copy has idled out while another replica may have served it since).
    func findSession(in cookies: [String: String], now: Int) -> SessionLookup {
        guard let sealed = self.cookies.sessionValue(cookies),
              let plaintext = sealer.open(sealed, cookieName: self.cookies.session)
        else { return .none }
        let found: LoginSession?
        switch config.sessionStore {
        case .cookie:
            found = LoginSession.decode(plaintext)
        case .memory:
            found = LoginSession.reference(plaintext).flatMap { id in store.withLockedValue { $0.value(for: id, at: .now) } }
        case .shared:
            guard let id = LoginSession.reference(plaintext) else { return .none }
            guard let cached = store.withLockedValue({ $0.value(for: id, at: .now) }) else { return .stored(id: id) }
            if now >= cached.seenAt + Int(config.idleTimeout.components.seconds) && now < cached.expiresAt { return .stored(id: id) }
            found = cached
        }
        return checked(found, now: now).map { .found($0) } ?? .none
    }

    /// The session in a request's cookies as `findSession` finds it, nil for a shared
    /// session this replica has not read (what a step that cannot wait for the store sees).
    func session(in cookies: [String: String], now: Int) -> LoginSession? {
        if case .found(let session) = findSession(in: cookies, now: now) { return session }
        return nil
    }

    /// `session` if it has not timed out and was not ended.
    func checked(_ session: LoginSession?, now: Int) -> LoginSession? {
        guard let session else { return nil }
        guard now < session.expiresAt, now < session.seenAt + Int(config.idleTimeout.components.seconds) else { return nil }
        if revocations.withLockedValue({ $0.isEnded(session, now: now) }) { return nil }
        return session
    }

    /// Remembers a logged-out session until its absolute end.
    func end(_ session: LoginSession, now: Int) {
        let milliseconds = WallClock.millisecondsSinceEpoch()
        revocations.withLockedValue { $0.end(session, now: now, nowMilliseconds: milliseconds) }
        if config.sessionStore != .cookie { store.withLockedValue { $0.set(session, for: session.id, expires: .now) } }
        fleetStore?.record(.session(session, profile: name, now: now))
        // The revocation ends it everywhere; its row goes too (else at its expiry).
        if sharesSessions { _ = submit(.forgetSession(session.id)) }
    }

    /// Ends session `id` whose content this replica cannot read (a shared session's logout
    /// while the store is down): remembered, and told to the fleet, for as long as any
    /// session can live.
    func end(id: String, now: Int) {
        let revocation = FleetRevocation.sessionID(
            id, profile: name, at: WallClock.millisecondsSinceEpoch(), until: now + Int(config.absoluteTimeout.components.seconds)
        )
        revocations.withLockedValue { $0.apply(revocation, now: now) }
        store.withLockedValue { $0.removeValue(for: id) }
        fleetStore?.record(revocation)
        if sharesSessions { _ = submit(.forgetSession(id)) }
    }

    /// Applies revocations another replica made (or an operator's, through the store):
    /// those for this profile or for every profile.
    func apply(_ revocations: [FleetRevocation], now: Int = WallClock.secondsSinceEpoch()) {
        let mine = revocations.filter { $0.kind != .token && ($0.profile == nil || $0.profile == name) }
        guard !mine.isEmpty else { return }
        self.revocations.withLockedValue { list in
            for revocation in mine { list.apply(revocation, now: now) }
        }
    }

    /// Whether `jti` is new (and now remembered until `until`, seconds since the epoch, and
    /// the clock skew; at least a minute).
    func rememberLogoutToken(_ jti: String, until: Int, now: Int = WallClock.secondsSinceEpoch()) -> Bool {
        let keep = max(now + 60, until + config.clockSkew)
        return revocations.withLockedValue { $0.rememberLogoutToken(jti, until: keep, now: now) }
    }

    /// How many times a full revocation list ended every session (0 in normal use).
    var revocationOverflows: Int { revocations.withLockedValue { $0.overflows } }

    /// Takes over what `old` (the profile a reload replaces) knows of ended sessions, logout
    /// tokens and, with the same store, stored sessions: a reload must not bring a
    /// logged-out cookie back to life.
    func inherit(from old: LoginProfile) {
        let known = old.revocations.withLockedValue { $0 }
        revocations.withLockedValue { $0 = known }
        if config.sessionStore != .cookie && old.config.sessionStore == config.sessionStore && config.maxSessions == old.config.maxSessions {
            store.withLockedValue { $0 = old.store.withLockedValue { $0 } }
        }
    }

    /// Sessions in the memory store (0 with the cookie store).
    var storedSessions: Int { store.withLockedValue { $0.count } }

    /// Ends every session of a provider session or subject logged in before `at`
    /// (milliseconds since the epoch; back-channel logout).
    func endByProvider(sid: String?, subject: String?, at: Int, now: Int = WallClock.secondsSinceEpoch()) {
        let until = now + Int(config.absoluteTimeout.components.seconds)
        revocations.withLockedValue { $0.endByProvider(sid: sid, subject: subject, at: at, until: until, now: now) }
        if let fleet = fleetStore {
            if let sid { fleet.record(.provider(.sid, sid, profile: name, at: at, until: until)) }
            if let subject { fleet.record(.provider(.sub, subject, profile: name, at: at, until: until)) }
        }
    }

    /// The sealed session cookies for `session` (nil when it is too large for cookies). With
    /// the memory store the session is kept here and the cookie holds only its sealed id;
    /// with the shared store, too, and the fleet's store hears that it was used now.
    func sessionCookies(_ session: LoginSession, present: Set<String>, now: Int) -> [(name: String, value: String)]? {
        var plaintext = session.encoded()
        switch config.sessionStore {
        case .cookie:
            break
        case .memory:
            store.withLockedValue { $0.set(session, for: session.id, expires: .now + .seconds(max(1, session.expiresAt - now))) }
            plaintext = LoginSession.referenceBytes(session.id)
        case .shared:
            // The requests a refresh answered all come here within the second: one touch.
            let known = store.withLockedValue { $0.value(for: session.id, at: .now) }
            remember(session)
            if known?.seenAt != session.seenAt { _ = submit(.touchSession(session.id, seenAt: session.seenAt)) }
            plaintext = LoginSession.referenceBytes(session.id)
        }
        guard let sealed = sealer.seal(plaintext, cookieName: cookies.session) else { return nil }
        return cookies.setSession(sealed, maxAge: session.expiresAt - now, present: present)
    }

    /// An ID token claim the profile maps to an identity header that no header can carry
    /// faithfully (`IntrospectionClaims.identityHeader`). `detail` names the claim and
    /// the header, never the value.
    struct IdentityClaimRefusal: Error, Sendable {
        let claim: String
        let detail: String
    }

    /// Builds a new session from a validated ID token and the token response, or refuses
    /// the login when a claim mapped to an identity header holds a control character or a
    /// list element the joined value would blur (`["staff,admin"]`): as on a bearer route,
    /// the gateway fails closed rather than make a session whose requests reach the app
    /// without that header (no groups, no name) or with another value.
    func makeSession(claims: IntrospectionClaims, issued: IssuedToken, idToken: String, now: Int) -> Result<LoginSession, IdentityClaimRefusal> {
        var kept: [String: String] = [:]
        for (header, claim) in config.identityHeaders {
            switch claims.identityHeader(claim, header: header) {
            case .value(let value): kept[claim] = value
            case .absent: break
            case .refused(let problem): return .failure(IdentityClaimRefusal(claim: claim, detail: "its " + problem))
            }
        }
        return .success(LoginSession(
            id: LoginCookies.random(), subject: claims.subject ?? "", providerSessionID: claims.other["sid"], loginAt: WallClock.millisecondsSinceEpoch(), seenAt: now,
            expiresAt: now + Int(config.absoluteTimeout.components.seconds), claims: kept, accessToken: issued.accessToken.revealed,
            accessTokenExpiresAt: issued.expiresIn.map { now + Int($0.components.seconds) }, refreshToken: issued.refreshToken?.revealed,
            idToken: idToken
        ))
    }
}

/// What a login step ends in, computed on the control plane (the code exchange) or on
/// the event loop.
enum LoginOutcome: Sendable {
    /// A redirect (302) with these `Set-Cookie`s.
    case redirect(location: String, cookies: [(name: String, value: String)])
    case refuse(GatewayAnswer)
}
