import NIOCore
import NIOHTTP1

// OpenID Connect Back-Channel Logout 1.0: the provider POSTs a logout token to
// `PATH_PREFIX/backchannel-logout`; the gateway reads the body itself, checks the token
// and ends the sessions it names.
extension ProxyHandler {
    /// The most a logout request's body may hold.
    static let logoutBodyLimit = 64 * 1024

    func backchannelLogout(_ exchange: Exchange, login: LoginProfile) {
        let route = exchange.plan.route
        guard exchange.method == .POST else {
            refuseExchange(GatewayAnswer(
                .methodNotAllowed, detail: "back-channel logout takes a POST", route: route.name,
                headers: [("Allow", "POST")]
            ))
            return
        }
        // Copied into one buffer as it arrives (with any part already held), never kept as
        // read-buffer slices.
        exchange.readsBodyItself(limit: Self.logoutBodyLimit, allocator: context?.channel.allocator ?? ByteBufferAllocator())
        guard !machine.requestEnded else {
            logoutBodyArrived(exchange, login: login)
            return
        }
        // Read the body while admitting (held, within `logoutBodyLimit`), then go on.
        // Weak both ways: the exchange holds this closure, so a strong capture of it would be
        // a cycle that outlives a client who never sends the end (found by LeakSanitizer).
        exchange.onRequestEnd = { [weak self, weak exchange] in
            guard let self, let exchange else { return }
            self.logoutBodyArrived(exchange, login: login)
        }
        machine.gatewayReadsBody(limit: Self.logoutBodyLimit)
        resumeClientReads()
        armTimer()
    }

    private func logoutBodyArrived(_ exchange: Exchange, login: LoginProfile) {
        guard exchange === self.exchange else { return }
        let route = exchange.plan.route
        // At most `logoutBodyLimit` bytes: the state machine refused anything larger.
        let body = exchange.ownBody?.buffer.map { String(buffer: $0) } ?? ""
        let token = body.split(separator: "&").first { $0.hasPrefix("logout_token=") }.flatMap { FormEncoding.decode($0.dropFirst("logout_token=".count)) }
        guard let token, !token.isEmpty else {
            refuseExchange(GatewayAnswer(.invalidRequest, detail: "the form has no logout_token", route: route.name))
            return
        }
        guard let waiter = waiter(for: exchange, settled: { (handler: ProxyHandler, result: Result<Int, JWTAccessTokenRules.Refusal>, exchange: Exchange) in
            guard handler.isAdmitting(exchange) else { return }
            switch result {
            case .success(let ended):
                // A success: the provider gets its 200, and the access log no error.
                handler.refuseExchange(GatewayAnswer(
                    .loggedOut, detail: "the sessions the logout token names are ended (\(ended) kinds of match)", route: route.name
                ))
            case .failure(let refusal):
                handler.refuseExchange(GatewayAnswer(
                    .invalidRequest, detail: "the logout token was refused: \(refusal.description)", route: route.name
                ))
            }
        }) else { return }
        Task { waiter(await login.backchannelLogout(token)) }
        armTimer()
    }
}
