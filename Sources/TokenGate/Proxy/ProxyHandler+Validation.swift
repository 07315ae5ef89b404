import NIOCore

// Inbound validation on the data path: a cached introspection answer decides at once;
// a miss waits, reads paused, for the one call in flight for that token.
extension ProxyHandler {
    /// Validates the caller's token when the route requires it, then goes on to the
    /// outbound credential and the upstream.
    func admit(_ exchange: Exchange) {
        guard let validation = exchange.plan.route.validation else {
            authorizeAndConnect(exchange)
            return
        }
        let route = exchange.plan.route.name
        switch exchange.plan.bearer {
        case .absent:
            fail(exchange, with: InboundPolicy.missingToken(validation.rules, route: route))
        case .malformed(let reason):
            fail(exchange, with: InboundPolicy.invalidRequest(validation.rules, route: route, detail: reason))
        case .token(let token):
            if let claims = validation.profile.cached(token) {
                decide(claims, for: exchange)
                return
            }
            guard let context else { return }
            let bound = NIOLoopBound((handler: self, exchange: exchange), eventLoop: context.eventLoop)
            let outcome = validation.profile.lookup(token) { outcome in
                bound.eventLoop.execute {
                    bound.value.handler.introspectionSettled(outcome, for: bound.value.exchange)
                }
            }
            if case .pending = outcome { return }
            introspectionSettled(outcome, for: exchange)
        }
    }

    private func introspectionSettled(_ outcome: IntrospectionProfile.Lookup, for exchange: Exchange) {
        guard case .forwarding(let current) = state, current === exchange else { return }
        switch outcome {
        case .answer(let claims):
            decide(claims, for: exchange)
        case .failed(let error):
            fail(exchange, with: InboundPolicy.unavailable(error, route: exchange.plan.route.name))
        case .pending:
            break
        }
    }

    private func decide(_ claims: IntrospectionClaims, for exchange: Exchange) {
        guard let validation = exchange.plan.route.validation else { return }
        switch InboundPolicy.evaluate(claims, validation.rules, route: exchange.plan.route.name, now: WallClock.secondsSinceEpoch()) {
        case .success(let identity):
            exchange.subject = claims.subject ?? claims.username
            exchange.clientID = claims.clientID
            for header in identity { exchange.plan.upstreamHead.headers.add(name: header.name, value: header.value) }
            authorizeAndConnect(exchange)
        case .failure(let refusal):
            fail(exchange, with: refusal)
        }
    }
}
