import NIOCore
import NIOHTTP1

// Outbound credentials on the data path: the cached token is injected synchronously; only
// when there is none does the exchange wait, with reads paused, for the profile's fetch.
extension ProxyHandler {
    /// Injects the route's credential (waiting for it if need be), then connects upstream.
    func authorizeAndConnect(_ exchange: Exchange) {
        guard let profile = exchange.plan.route.credential else {
            connect(exchange, fresh: false)
            return
        }
        if let token = profile.currentToken() {
            exchange.inject(token, header: profile.config.headerName)
            connect(exchange, fresh: false)
            return
        }
        guard let context else { return }
        let bound = NIOLoopBound((handler: self, exchange: exchange), eventLoop: context.eventLoop)
        let lookup = profile.lookup { outcome in
            bound.eventLoop.execute {
                bound.value.handler.credentialSettled(outcome, for: bound.value.exchange)
            }
        }
        if case .pending = lookup { return }
        credentialSettled(lookup, for: exchange)
    }

    private func credentialSettled(_ outcome: CredentialProfile.Lookup, for exchange: Exchange) {
        guard case .forwarding(let current) = state, current === exchange, let profile = exchange.plan.route.credential else { return }
        switch outcome {
        case .ready(let token):
            exchange.inject(token, header: profile.config.headerName)
            connect(exchange, fresh: false)
        case .unavailable(let error, let retryAfter):
            // Never forward without the credential: the caller learns why and when to retry.
            let seconds = max(1, Int(retryAfter.components.seconds) + (retryAfter.components.attoseconds > 0 ? 1 : 0))
            fail(exchange, with: GatewayError(
                status: .serviceUnavailable, code: "credential_unavailable", detail: error.detail,
                route: exchange.plan.route.name, fields: [("credential", profile.name)],
                headers: [("Retry-After", String(seconds))]
            ))
        case .pending:
            break
        }
    }

    /// Whether an upstream 401 should be retried with a fresh token rather than passed on:
    /// the route injects a credential, this is the first 401, and the whole request (its
    /// body small enough to have been kept) can be sent again.
    func shouldRetryUnauthorized(_ head: HTTPResponseHead, _ exchange: Exchange) -> Bool {
        head.status == .unauthorized && exchange.plan.route.credential != nil && exchange.credentialRetries == 0
            && exchange.requestEnded && exchange.replayBody != nil && exchange.injectedToken != nil
    }

    /// The discarded 401 is complete: drop the refused token and send the request again.
    func retryWithFreshToken(_ exchange: Exchange) {
        if let profile = exchange.plan.route.credential, let token = exchange.injectedToken {
            profile.rejected(token)
        }
        exchange.discardingUnauthorized = false
        exchange.credentialRetries += 1
        exchange.requestSentAt = nil
        exchange.pendingBody = exchange.replayBody ?? []
        authorizeAndConnect(exchange)
    }
}
