/// Admission of one request, as a value: whether the gateway lets it through to the
/// upstream, and with what (the credential to inject, the caller's identity for the
/// upstream, fields for the client's response), or answers it itself.
///
/// Made per request from what the planner found (the route with its profiles, the bearer
/// token, the login request); each event (`start`, `resume` with a lookup's outcome)
/// answers a `Step`: admit, refuse with an answer (a login step's redirects included), or
/// wait for a lookup the connection issues and then resumes the value with. It reads the
/// profiles' caches and the snapshot synchronously, never a clock (the time is passed in,
/// `AdmissionClock`) and never does I/O, so its rules are tested event by event without
/// sockets (`AdmissionTests`). The rules live here once, for the HTTP/1 connection and
/// any other carrier of requests (`ProxyHandler+Admission` is the HTTP/1 one).
///
/// Bearer routes: the JWT profile's cache, the introspection cache, then the token's
/// syntax, then the JWT check or the introspection call. Login routes: `+Login`, and
/// back-channel logout: `+BackchannelLogout`. Then the outbound credential.
struct Admission {
    enum Step {
        case admit(Grant)
        /// The gateway answers the request itself (an error, or a login step's success:
        /// a redirect, a logout confirmation, `logged_out`).
        case refuse(GatewayAnswer)
        /// Issue the lookup, then `resume(_:clock:)` with its outcome.
        case wait(Lookup)
    }

    /// What an admitted request carries on.
    struct Grant {
        /// The route's credential and the field it goes in; nil when the route injects none.
        var credential: Credential?
        /// The validated caller; nil when nobody was validated (a public path, a route
        /// without validation, a retry that obtained the credential again).
        var identity: Identity?
        /// Fields for the client's response: a login session's cookies sealed again, and
        /// deletions of cookies of names before the profile tag. Empty: leave them as they are.
        var responseFields: [(name: String, value: String)] = []
    }

    /// A credential to inject: the token, the field it goes in and that field's value.
    /// Only what the request needs of `TokenState.Token`: that type holds
    /// `ContinuousClock.Instant`s, whose layout the standard library keeps resilient, so
    /// every copy of a value holding one goes through the runtime's generic value
    /// witnesses (and a tuple's would too), on every request.
    struct Credential {
        /// The token, to tell the profile which one an upstream refused.
        var token: Redacted
        /// The field's value, e.g. `Bearer <token>`.
        var headerValue: Redacted
        var header: String

        init(_ token: TokenState.Token, header: String) {
            self.init(token: token.value, headerValue: token.headerValue, header: header)
        }

        init(token: Redacted, headerValue: Redacted, header: String) {
            self.token = token
            self.headerValue = headerValue
            self.header = header
        }
    }

    /// The caller, as the upstream and the access log learn it.
    struct Identity {
        /// The identity fields sent to the upstream.
        var fields: [(name: String, value: String)]
        var subject: String?
        var clientID: String?
    }

    let route: ProxyRoute
    let bearer: BearerCredential
    /// On a login route: what the login flow needs of the request.
    let login: LoginRequest?
    /// What the value waits for, if anything, and what it needs to go on.
    private(set) var pending: Pending = .nothing
    private var grant = Grant()

    /// The most a back-channel logout request's body may hold.
    static let logoutBodyLimit = 64 * 1024

    /// `bearer` and `login` as the planner found them for the request on `route`.
    init(route: ProxyRoute, bearer: BearerCredential, login: LoginRequest?) {
        self.route = route
        self.bearer = bearer
        self.login = login
    }

    init(plan: ForwardPlan) {
        self.init(route: plan.route, bearer: plan.bearer, login: plan.login)
    }

    /// The caller validated so far (before the credential step), if any.
    var caller: Identity? { grant.identity }

    /// Whether the value waits for a lookup's outcome.
    var isWaiting: Bool {
        if case .nothing = pending { return false }
        return true
    }

    /// The request's admission begins: the caller (a login session, or a bearer token)
    /// when the route requires it, then the outbound credential. `tokenKeys` is the
    /// connection's memo of its last token's cache key.
    mutating func start(clock: inout AdmissionClock, tokenKeys: inout TokenKeyMemo) -> Step {
        if let profile = route.login, let request = login {
            return admitLogin(profile, request, clock: &clock, tokenKeys: &tokenKeys)
        }
        return admitBearer(clock: &clock, tokenKeys: &tokenKeys)
    }

    /// Only the credential step again (the upstream refused the token the request carried;
    /// the profile already dropped it): the grant names the credential alone.
    mutating func reauthorize(clock: inout AdmissionClock) -> Step {
        grant = Grant()
        pending = .nothing
        return authorize(clock: &clock)
    }

    /// The lookup `pending` named came to `outcome`.
    mutating func resume(_ outcome: Outcome, clock: inout AdmissionClock) -> Step {
        let awaited = pending
        pending = .nothing
        switch (awaited, outcome) {
        case (.jwt(let leeway), .jwt(let lookup)):
            return jwtSettled(lookup, leeway: leeway, clock: &clock)
        case (.introspection, .introspection(let lookup)):
            return introspectionSettled(lookup, clock: &clock)
        case (.credential, .credential(let lookup)):
            return credentialSettled(lookup)
        case (.sessionRefresh(let old), .sessionRefresh(let result)):
            return refreshed(result, old: old, clock: &clock)
        case (.providerMetadata(let returnTo), .providerMetadata(let waited)):
            return metadataSettled(waited: waited, returnTo: returnTo, clock: &clock)
        case (.codeExchange(let clearState), .codeExchange(let outcome)):
            return codeExchanged(outcome, clearState: clearState)
        case (.requestBody, .requestBody(let body)):
            return logoutBodyArrived(body)
        case (.backchannelLogout, .backchannelLogout(let outcome)):
            return logoutChecked(outcome)
        case (.sharedSession(let id, let next), .sharedSession(let read)):
            return sessionRead(read, id: id, then: next, clock: &clock)
        default:
            return Self.unexpected(route)
        }
    }

    /// A resume that does not answer the lookup asked for (or answers "still pending"):
    /// never expected; refused rather than admitted.
    static func unexpected(_ route: ProxyRoute) -> Step {
        .refuse(GatewayAnswer(.internalError, detail: "admission was resumed with an answer it did not wait for", route: route.name))
    }

    /// Starts waiting for `lookup`, remembering what comes after.
    mutating func wait(for lookup: Lookup, then pending: Pending) -> Step {
        self.pending = pending
        return .wait(lookup)
    }

    /// Admits with the grant gathered so far (handed over, not copied).
    private mutating func admitNow() -> Step {
        var granted = Grant()
        swap(&granted, &grant)
        return .admit(granted)
    }

    // MARK: Bearer tokens

    /// Validates the caller's bearer token when the route requires it.
    mutating func admitBearer(clock: inout AdmissionClock, tokenKeys: inout TokenKeyMemo) -> Step {
        guard let validation = route.validation else { return authorize(clock: &clock) }
        switch bearer {
        case .absent:
            return .refuse(InboundPolicy.missingToken(validation.rules, route: route.name))
        case .malformed(let reason):
            return .refuse(InboundPolicy.invalidRequest(validation.rules, route: route.name, detail: reason))
        case .token(let token):
            // Cache hits first: a keep-alive client's token costs one hash per connection
            // and one lookup per request. The memo gives only the key, never a decision;
            // the introspection cache never answers for a JWT from the JWT profile's
            // issuer (that profile alone decides it, below, even when another route had
            // the token introspected).
            let key = tokenKeys.key(for: token)
            // Revoked here or by another replica: refused whatever a cache or the
            // authorization server says (one atomic load while nothing is revoked).
            if validation.revocations.holdsAny, validation.revocations.contains(key, now: clock.now()) {
                return .refuse(InboundPolicy.invalidToken(validation.rules, route: route.name, detail: "the token was revoked"))
            }
            if let jwt = validation.jwt, let claims = jwt.cached(key: key, at: clock.instant) {
                return decide(claims, leeway: jwt.config.clockSkew, clock: &clock)
            }
            if let profile = validation.introspection, let claims = profile.cached(key: key, at: clock.instant, unlessFrom: validation.jwt) {
                return decide(claims, leeway: nil, clock: &clock)
            }
            // Not cached, so never checked: the token's syntax first (RFC 6750 §2.1).
            guard BearerCredential.isB64Token(token) else {
                return .refuse(InboundPolicy.invalidRequest(validation.rules, route: route.name, detail: BearerCredential.notB64Token))
            }
            if let jwt = validation.jwt {
                // A JWT from the profile's issuer is checked by the JWT profile; with
                // introspection too, anything else is introspected.
                switch CompactJWT.parse(token) {
                case .success(let parsed) where jwt.isFromIssuer(parsed):
                    return wait(for: .jwt(jwt, parsed, token: token, key: key), then: .jwt(leeway: jwt.config.clockSkew))
                case .success where validation.introspection == nil:
                    jwt.metrics.validation("invalid")
                    return .refuse(InboundPolicy.invalidToken(validation.rules, route: route.name, detail: "the token is from another issuer"))
                case .failure(let malformed) where validation.introspection == nil:
                    jwt.metrics.validation("invalid")
                    return .refuse(InboundPolicy.invalidToken(validation.rules, route: route.name, detail: malformed.description))
                default:
                    break
                }
            }
            // A validation has a JWT profile, an introspection profile or both: with the
            // JWT profile alone every case returned above.
            guard let profile = validation.introspection else { return Self.unexpected(route) }
            return wait(for: .introspection(profile, token: token, key: key), then: .introspection)
        }
    }

    private mutating func introspectionSettled(_ outcome: IntrospectionProfile.Lookup, clock: inout AdmissionClock) -> Step {
        switch outcome {
        case .answer(let claims):
            return decide(claims, leeway: nil, clock: &clock)
        case .failed(let error):
            return .refuse(InboundPolicy.unavailable(error, route: route.name))
        case .pending:
            return Self.unexpected(route)
        }
    }

    private mutating func jwtSettled(_ outcome: JWTProfile.Lookup, leeway: Int, clock: inout AdmissionClock) -> Step {
        guard let validation = route.validation else { return Self.unexpected(route) }
        switch outcome {
        case .answer(let claims):
            return decide(claims, leeway: leeway, clock: &clock)
        case .refused(let reason):
            return .refuse(InboundPolicy.invalidToken(validation.rules, route: route.name, detail: reason))
        case .failed(let error):
            return .refuse(InboundPolicy.keysUnavailable(error, route: route.name))
        case .pending:
            return Self.unexpected(route)
        }
    }

    /// The route's rules on a token's claims. `leeway`: a JWT profile's clock skew, for a
    /// JWT's claims (nil: introspection's rules).
    private mutating func decide(_ claims: IntrospectionClaims, leeway: Int?, clock: inout AdmissionClock) -> Step {
        guard let validation = route.validation else { return Self.unexpected(route) }
        let now = clock.now()
        let name = route.name
        // Not `leeway.map { … }`: a closure capturing the rules copies them, a dozen fields.
        let verdict = if let leeway {
            InboundPolicy.evaluate(claims, validation.rules, route: name, now: now, leeway: (leeway, leeway))
        } else {
            InboundPolicy.evaluate(claims, validation.rules, route: name, now: now)
        }
        switch verdict {
        case .success(let fields):
            return admit(as: Identity(fields: fields, subject: claims.subject ?? claims.username, clientID: claims.clientID), clock: &clock)
        case .failure(let refusal):
            return .refuse(refusal)
        }
    }

    /// The caller is `identity` (and the client's response gets `responseFields`): on to
    /// the credential.
    mutating func admit(as identity: Identity, responseFields: [(name: String, value: String)] = [], clock: inout AdmissionClock) -> Step {
        grant.identity = identity
        grant.responseFields = responseFields
        return authorize(clock: &clock)
    }

    // MARK: The outbound credential

    /// The route's credential (waiting for it if need be), then admitted.
    mutating func authorize(clock: inout AdmissionClock) -> Step {
        guard let profile = route.credential else { return admitNow() }
        if let current = profile.currentValues(at: clock.instant) {
            grant.credential = Credential(token: current.value, headerValue: current.headerValue, header: profile.config.headerName)
            return admitNow()
        }
        return wait(for: .credential(profile), then: .credential)
    }

    private mutating func credentialSettled(_ outcome: CredentialProfile.Lookup) -> Step {
        guard let profile = route.credential else { return Self.unexpected(route) }
        switch outcome {
        case .ready(let token):
            grant.credential = Credential(token, header: profile.config.headerName)
            return admitNow()
        case .unavailable(let error, let retryAfter):
            // Never forward without the credential: the caller learns why and when to retry.
            let seconds = max(1, Int(retryAfter.components.seconds) + (retryAfter.components.attoseconds > 0 ? 1 : 0))
            return .refuse(GatewayAnswer(
                .credentialUnavailable, detail: error.publicDetail,
                route: route.name, fields: [("credential", profile.name), ("cause", error.kind.label)],
                headers: [("Retry-After", String(seconds))]
            ))
        case .pending:
            return Self.unexpected(route)
        }
    }
}
