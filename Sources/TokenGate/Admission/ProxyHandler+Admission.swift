import NIOCore
import NIOHTTP1

// Admission: inbound validation, then the outbound credential. A cached introspection
// answer and a cached token decide at once; a miss waits, reads paused and under the
// admission deadline, for the control plane's answer delivered on this event loop.
extension ProxyHandler {
    /// Checks the caller (a login session, or a bearer token) when the route requires it,
    /// then goes on to the outbound credential.
    func admit(_ exchange: Exchange) {
        if let login = exchange.plan.route.login, let request = exchange.plan.login {
            admitLogin(exchange, login: login, request: request)
            return
        }
        admitBearer(exchange)
    }

    /// Validates the caller's bearer token when the route requires it.
    func admitBearer(_ exchange: Exchange) {
        guard let validation = exchange.plan.route.validation else {
            authorize(exchange)
            return
        }
        let route = exchange.plan.route.name
        switch exchange.plan.bearer {
        case .absent:
            refuseExchange(InboundPolicy.missingToken(validation.rules, route: route))
        case .malformed(let reason):
            refuseExchange(InboundPolicy.invalidRequest(validation.rules, route: route, detail: reason))
        case .token(let token):
            // Cache hits first: a keep-alive client's token costs one hash per connection
            // and one lookup per request. The memo gives only the key, never a decision;
            // the introspection cache never answers for a JWT from the JWT profile's
            // issuer (that profile alone decides it, below, even when another route had
            // the token introspected).
            let key = tokenKeys.key(for: token)
            if let jwt = validation.jwt, let claims = jwt.cached(key: key) {
                decide(claims, leeway: jwt.config.clockSkew, for: exchange)
                return
            }
            if let profile = validation.introspection, let claims = profile.cached(key: key, unlessFrom: validation.jwt) {
                decide(claims, for: exchange)
                return
            }
            // Not cached, so never checked: the token's syntax first (RFC 6750 §2.1).
            guard BearerCredential.isB64Token(token) else {
                refuseExchange(InboundPolicy.invalidRequest(validation.rules, route: route, detail: BearerCredential.notB64Token))
                return
            }
            if let jwt = validation.jwt {
                // A JWT from the profile's issuer is checked here; with introspection too,
                // anything else is introspected.
                switch CompactJWT.parse(token) {
                case .success(let parsed) where jwt.isFromIssuer(parsed):
                    guard let waiter = waiter(for: exchange, settled: { $0.jwtSettled($1, for: $2) }) else { return }
                    let outcome = jwt.validate(parsed, token: token, key: key, waiter: waiter)
                    if case .pending = outcome {
                        armTimer()
                        return
                    }
                    jwtSettled(outcome, for: exchange)
                    return
                case .success where validation.introspection == nil:
                    jwt.metrics.validation("invalid")
                    refuseExchange(InboundPolicy.invalidToken(validation.rules, route: route, detail: "the token is from another issuer"))
                    return
                case .failure(let malformed) where validation.introspection == nil:
                    jwt.metrics.validation("invalid")
                    refuseExchange(InboundPolicy.invalidToken(validation.rules, route: route, detail: malformed.description))
                    return
                default:
                    break
                }
            }
            guard let profile = validation.introspection else { return }
            guard let waiter = waiter(for: exchange, settled: { $0.introspectionSettled($1, for: $2) }) else { return }
            let outcome = profile.lookup(token, key: key, waiter: waiter)
            if case .pending = outcome {
                armTimer()
                return
            }
            introspectionSettled(outcome, for: exchange)
        }
    }

    /// A waiter for a control-plane lookup: the answer comes back on this connection's
    /// event loop (it arrives on the control plane's thread) and goes to `settled` with
    /// the exchange it was asked for. Nil once the handler has left its pipeline.
    func waiter<Outcome: Sendable>(
        for exchange: Exchange, settled: @escaping (ProxyHandler, Outcome, Exchange) -> Void
    ) -> (@Sendable (Outcome) -> Void)? {
        guard let context else { return nil }
        let bound = NIOLoopBound((handler: self, exchange: exchange, settled: settled), eventLoop: context.eventLoop)
        return { outcome in
            bound.eventLoop.execute {
                let value = bound.value
                value.settled(value.handler, outcome, value.exchange)
            }
        }
    }

    /// Whether `exchange` is still the one waiting for admission (a late answer for an
    /// exchange that timed out or whose client left is dropped).
    func isAdmitting(_ exchange: Exchange) -> Bool {
        exchange === self.exchange && machine.isAdmitting
    }

    private func introspectionSettled(_ outcome: IntrospectionProfile.Lookup, for exchange: Exchange) {
        guard isAdmitting(exchange) else { return }
        switch outcome {
        case .answer(let claims):
            decide(claims, for: exchange)
        case .failed(let error):
            refuseExchange(InboundPolicy.unavailable(error, route: exchange.plan.route.name))
        case .pending:
            break
        }
    }

    private func jwtSettled(_ outcome: JWTProfile.Lookup, for exchange: Exchange) {
        guard isAdmitting(exchange), let validation = exchange.plan.route.validation else { return }
        let route = exchange.plan.route.name
        switch outcome {
        case .answer(let claims):
            decide(claims, leeway: validation.jwt?.config.clockSkew, for: exchange)
        case .refused(let reason):
            refuseExchange(InboundPolicy.invalidToken(validation.rules, route: route, detail: reason))
        case .failed(let error):
            refuseExchange(InboundPolicy.keysUnavailable(error, route: route))
        case .pending:
            break
        }
    }

    /// `leeway`: a JWT profile's clock skew, for a JWT's claims (nil: introspection's rules).
    private func decide(_ claims: IntrospectionClaims, leeway: Int? = nil, for exchange: Exchange) {
        guard let validation = exchange.plan.route.validation else { return }
        let now = WallClock.secondsSinceEpoch()
        let route = exchange.plan.route.name
        let verdict = leeway.map { InboundPolicy.evaluate(claims, validation.rules, route: route, now: now, leeway: ($0, $0)) }
            ?? InboundPolicy.evaluate(claims, validation.rules, route: route, now: now)
        switch verdict {
        case .success(let identity):
            exchange.subject = claims.subject ?? claims.username
            exchange.clientID = claims.clientID
            exchange.identityFields = identity
            authorize(exchange)
        case .failure(let refusal):
            refuseExchange(refusal)
        }
    }

    /// Injects the route's credential (waiting for it if need be), then connects.
    func authorize(_ exchange: Exchange) {
        guard let profile = exchange.plan.route.credential else {
            admitted(exchange)
            return
        }
        if let token = profile.currentToken() {
            exchange.inject(token, header: profile.config.headerName)
            admitted(exchange)
            return
        }
        guard let waiter = waiter(for: exchange, settled: { $0.credentialSettled($1, for: $2) }) else { return }
        let lookup = profile.lookup(waiter: waiter)
        if case .pending = lookup {
            armTimer()
            return
        }
        credentialSettled(lookup, for: exchange)
    }

    private func credentialSettled(_ outcome: CredentialProfile.Lookup, for exchange: Exchange) {
        guard isAdmitting(exchange), let profile = exchange.plan.route.credential else { return }
        switch outcome {
        case .ready(let token):
            exchange.inject(token, header: profile.config.headerName)
            admitted(exchange)
        case .unavailable(let error, let retryAfter):
            // Never forward without the credential: the caller learns why and when to retry.
            let seconds = max(1, Int(retryAfter.components.seconds) + (retryAfter.components.attoseconds > 0 ? 1 : 0))
            refuseExchange(GatewayAnswer(
                .credentialUnavailable, detail: error.publicDetail,
                route: exchange.plan.route.name, fields: [("credential", profile.name), ("cause", error.kind.label)],
                headers: [("Retry-After", String(seconds))]
            ))
        case .pending:
            break
        }
    }
}
