import NIOCore
import NIOHTTP1

// The upstream half of an exchange, as events: admission complete, the connection from
// the pool, and the response's parts. Each goes to the machine; `run(_:with:)` carries
// out what it decides.
extension ProxyHandler {
    /// Admission is complete: `100 Continue` if the client waits for it (only now, so a
    /// refused request never has its body sent), then the upstream connection.
    func admitted(_ exchange: Exchange) {
        run(machine.admitted())
    }

    /// Asks the pool for a connection for `exchange` (`fresh`: not a pooled one).
    func connect(_ exchange: Exchange, fresh: Bool) {
        guard let pool else {
            refuseExchange(GatewayAnswer(.internalError, detail: "no upstream pool for this event loop", route: exchange.plan.route.name))
            return
        }
        let route = exchange.plan.route
        if exchange.upstreamStartedAt == nil { exchange.upstreamStartedAt = .now() }
        pool.acquire(route.endpoint, connectTimeout: route.connectTimeout, fresh: fresh) { [weak self, pool] result in
            guard let self else {
                // The client went away while connecting (an HTTP/2 stream reset, say) and
                // the handler with it: the connection goes back unused, never left open.
                if case .success(let connection) = result { pool.release(connection) }
                return
            }
            self.connected(exchange, result)
        }
    }

    private func connected(_ exchange: Exchange, _ result: Result<UpstreamConnection, any Error>) {
        guard exchange === self.exchange, let context else {
            // The client went away or the exchange already ended; the connection is unused.
            if case .success(let connection) = result { pool?.release(connection) }
            return
        }
        let route = exchange.plan.route
        let connection: UpstreamConnection
        switch result {
        case .failure(let error):
            let timedOut: Bool
            if case ChannelError.connectTimeout? = error as? ChannelError { timedOut = true } else { timedOut = false }
            route.metrics.upstreamError(timedOut ? .timeout : .connect)
            environment.logger.warning("upstream connection failed", metadata: [
                "tg.route": "\(route.name)", "tg.upstream": "\(route.config.upstream.authority)", "error": "\(error)",
            ])
            refuseExchange(timedOut
                ? GatewayAnswer(.upstreamConnectTimeout, detail: "could not connect to the upstream within \(route.config.timeouts.connect)", route: route.name)
                : GatewayAnswer(.upstreamUnreachable, route: route.name))
            return
        case .success(let value):
            connection = value
        }
        let head = exchange.upstreamHead()
        guard head.isValid else {
            // Only the gateway's own fields are added here, from a credential or validated
            // claims: a bad byte among them is the gateway's fault, never forwarded.
            pool?.release(connection)
            refuseExchange(GatewayAnswer(
                .internalError,
                detail: "a field the gateway adds is not valid (\(head.problem ?? "unknown"))", route: route.name
            ))
            return
        }
        switch machine.upstreamConnected(reused: connection.isReused, at: context.eventLoop.now) {
        case .send(let end): send(head, on: connection, end: end)  // the usual one, unwrapped
        case let action: run(action, with: .connection(connection, head: head))
        }
    }
}

// MARK: Upstream events

extension ProxyHandler: UpstreamResponseDelegate {
    var clientIsWritable: Bool { context?.channel.isWritable ?? false }

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard let exchange, let context else { return }
        let route = exchange.plan.route
        // Shaped before the machine hears of it: a head that cannot be passed on is a 502.
        guard let shaped = ResponseRules.clientHead(
            from: head, method: exchange.method, clientVersion: exchange.clientVersion, gatewayCookies: exchange.plan.loginCookies,
            allocator: context.channel.allocator
        ) else {
            route.metrics.upstreamError(.reset)
            refuseExchange(GatewayAnswer(.upstreamError, detail: "the upstream used a transfer coding an HTTP/1.0 client cannot receive", route: route.name))
            return
        }
        guard shaped.head.isValid else {
            route.metrics.upstreamError(.reset)
            refuseExchange(GatewayAnswer(.upstreamError, detail: "the upstream's response head is not valid (\(shaped.head.problem ?? "unknown"))", route: route.name))
            return
        }
        if shaped.droppedCookies > 0 {
            // The app (or a header-injection bug in it) tried to set the gateway's cookies.
            // Names and values stay out of the log: a value may be a session.
            route.metrics.droppedGatewayCookies(shaped.droppedCookies)
            environment.logger.warning("dropped Set-Cookie fields for the gateway's own cookies from the upstream's response", metadata: [
                "tg.route": "\(route.name)", "dropped": "\(shaped.droppedCookies)",
            ])
        }
        let status = Int(head.status.code)
        let upgradeCompleted = head.status == .switchingProtocols && exchange.plan.webSocket?.isCompleted(by: head.headers) == true
        var action = machine.responseHead(status: status, upgradeCompleted: upgradeCompleted, retry: exchange.retryFacts, at: context.eventLoop.now)
        if action == .judgeUnauthorized {
            // The machine asks only for the first 401 of a replayable attempt: only a 401
            // that blames the token (and not too often) costs a token request.
            var retry = false
            if let profile = route.credential, let token = exchange.injectedToken {
                retry = profile.rejected(token, challenge: TokenState.challenge(head.headers["www-authenticate"])) == .retry
            }
            action = machine.unauthorizedJudged(retry: retry)
        }
        switch action {
        case .forwardResponseHead(let keepAlive):
            // The usual one, with the head passed on by value: kept in `EventData` as well,
            // the buffer would be shared when the fields are appended, and copied.
            forwardResponseHead(shaped, status: status, keepAlive: keepAlive)
        default:
            run(action, with: .responseHead(shaped, status: status))
        }
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        guard exchange != nil, let context else { return }
        switch machine.responseBodyArrived(at: context.eventLoop.now) {
        case .forwardResponseBody: forwardResponseBody(buffer)  // the usual one, unwrapped
        case let action: run(action, with: .body(buffer))
        }
    }

    func upstreamResponseEnd(reusable: Bool, trailers: HTTPHeaders?) {
        guard let exchange else { return }
        // Of this attempt only (a retried 401's never reach the client), and never a
        // `Set-Cookie` (no trailer may set one; the gateway's cookies are never the app's).
        exchange.responseTrailers = trailers.flatMap { fields in
            var kept = fields
            kept.remove(name: "set-cookie")
            return kept.isEmpty ? nil : kept
        }
        run(machine.responseEnd(reusable: reusable))
    }

    func upstreamReadComplete() {
        // The response's end already flushed, in the common case of a whole response in one read.
        guard clientUnflushed, let context else { return }
        clientUnflushed = false
        context.flush()
    }

    func upstreamWritabilityChanged() {
        run(machine.upstreamWritabilityChanged(exchange?.upstream?.isWritable ?? true))
    }

    func upstreamFailed(_ error: any Error) {
        guard let exchange else { return }
        let route = exchange.plan.route
        let action = machine.upstreamFailed()
        if case .refuse = action {
            route.metrics.upstreamError(.reset)
            environment.logger.warning("upstream exchange failed", metadata: ["tg.route": "\(route.name)", "error": "\(error)"])
        }
        run(action, with: .answer(GatewayAnswer(.upstreamError, detail: "the upstream closed the connection or failed before completing the response", route: route.name)))
    }
}
