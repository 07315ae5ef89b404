import NIOCore
import NIOHTTP1

// The upstream half of an exchange: getting a connection, sending the request, and
// relaying the response.
extension ProxyHandler {
    /// Admission is complete: `100 Continue` if the client waits for it (only now, so a
    /// refused request never has its body sent), then the upstream connection.
    func admitted(_ exchange: Exchange) {
        let decision = machine.admitted()
        if decision.sendContinue, let context {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
        }
        // No wait of ours while connecting (the pool's connect timeout bounds it); a pending
        // admission deadline is simply left to fire and find nothing to do.
        if decision.connect { connect(exchange, fresh: false) }
    }

    /// Whether an upstream 401 could be answered by sending the request again with a fresh
    /// token: the route injects one, and the whole body was kept.
    func canRetryWithFreshToken(_ exchange: Exchange) -> Bool {
        exchange.plan.route.credential != nil && exchange.replayBody != nil && exchange.injectedToken != nil
    }

    /// The discarded 401 is complete (the profile already dropped the refused token, or has
    /// a newer one): send the request again with whatever token is current.
    func retryWithFreshToken(_ exchange: Exchange) {
        exchange.requestSentAt = nil
        if let replay = exchange.replayBody?.buffer, replay.readableBytes > 0 {
            exchange.pendingBody = [replay]
        } else {
            exchange.pendingBody = []
        }
        authorize(exchange)
    }

    func connect(_ exchange: Exchange, fresh: Bool) {
        guard let pool else {
            refuseExchange(GatewayAnswer(.internalError, detail: "no upstream pool for this event loop", route: exchange.plan.route.name))
            return
        }
        let route = exchange.plan.route
        if exchange.upstreamStartedAt == nil { exchange.upstreamStartedAt = .now() }
        pool.acquire(route.endpoint, connectTimeout: route.connectTimeout, fresh: fresh) { [weak self] result in
            self?.connected(exchange, result)
        }
    }

    private func connected(_ exchange: Exchange, _ result: Result<UpstreamConnection, any Error>) {
        guard exchange === self.exchange else {
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
        switch machine.upstreamConnected(reused: connection.isReused) {
        case .release:
            pool?.release(connection)
        case .send(let end):
            exchange.upstream = connection
            exchange.touch()
            connection.handler.delegate = self
            connection.handler.sendHead(head.buffer, method: exchange.method, chunkedBody: exchange.plan.isChunked)
            for buffer in exchange.pendingBody { connection.handler.sendBody(buffer) }
            exchange.pendingBody.removeAll()
            if end {
                connection.handler.sendEnd()
                exchange.requestSentAt = .now()
            }
            connection.handler.flush()
            machine.upstreamWritabilityChanged(connection.isWritable)
            armTimer()
            resumeClientReads()
        }
    }
}

// MARK: Upstream events

extension ProxyHandler: UpstreamResponseDelegate {
    var clientIsWritable: Bool { context?.channel.isWritable ?? false }

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard let exchange, let context else { return }
        exchange.touch()
        let route = exchange.plan.route
        // Shaped before the machine hears of it: a head that cannot be passed on is a 502.
        guard var shaped = ResponseRules.clientHead(
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
        var retryable = false
        if head.status == .unauthorized, machine.mayRetryUnauthorized, canRetryWithFreshToken(exchange),
           let profile = route.credential, let token = exchange.injectedToken {
            // Only a 401 that blames the token (and not too often) costs a token request.
            retryable = profile.rejected(token, challenge: TokenState.challenge(head.headers["www-authenticate"])) == .retry
        }
        let upgradeCompleted = head.status == .switchingProtocols && exchange.plan.webSocket?.isCompleted(by: head.headers) == true
        switch machine.responseHead(status: Int(head.status.code), unauthorizedRetryable: retryable, upgradeCompleted: upgradeCompleted) {
        case .discardForRetry:
            // Not the client's business yet: read this answer to its end, then retry.
            armTimer()
        case .startTunnel:
            exchange.responseStatus = 101
            shaped.head.end()
            context.writeAndFlush(wrapOutboundOut(shaped.head.buffer), promise: nil)
        case .forward(let keepAlive):
            exchange.responseStatus = Int(head.status.code)
            exchange.chunksResponse = shaped.chunked
            if shaped.delimitedByClose { machine.responseDelimitedByClose() }
            for field in exchange.responseFields { shaped.head.field(field.name, field.value) }
            ResponseRules.finish(&shaped.head, keepAlive: keepAlive && !shaped.delimitedByClose, clientVersion: exchange.clientVersion)
            context.write(wrapOutboundOut(shaped.head.buffer), promise: nil)
            clientUnflushed = true
            armTimer()
        case .fail(let failure):
            route.metrics.upstreamError(.reset)
            settle(failure, with: GatewayAnswer(
                .upstreamError,
                detail: exchange.plan.mayUpgrade
                    ? "the upstream's 101 does not complete the WebSocket handshake asked for (Upgrade: websocket and the matching Sec-WebSocket-Accept)"
                    : "the upstream switched protocols without being asked to",
                route: route.name
            ))
        }
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        guard let exchange, let context else { return }
        exchange.touch()
        guard machine.forwardsResponseBody else { return }
        exchange.responseBodyBytes += buffer.readableBytes
        clientUnflushed = true
        if exchange.chunksResponse {
            ChunkedCoding.frame(buffer, allocator: context.channel.allocator) { context.write(wrapOutboundOut($0), promise: nil) }
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    func upstreamResponseEnd(reusable: Bool) {
        guard let exchange, let context else { return }
        if machine.state == .tunnel {
            startTunnel(exchange)
            return
        }
        let decision = machine.responseEnd(reusable: reusable)
        let reuse: Bool
        switch decision {
        case .retryWithFreshToken(let value): reuse = value
        case .finish(let value, _): reuse = value
        case .ignore: return
        }
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            if reuse { pool?.release(upstream) } else { upstream.close() }
        }
        switch decision {
        case .retryWithFreshToken:
            retryWithFreshToken(exchange)
        case .finish(_, let after):
            record(exchange, status: exchange.responseStatus ?? 502)
            let end = exchange.chunksResponse ? context.channel.allocator.buffer(staticString: ChunkedCoding.lastChunk) : nil
            clientUnflushed = false
            if after == .nextRequest {
                // Keep-alive, the common case: no promise to allocate and complete.
                if let end { context.write(wrapOutboundOut(end), promise: nil) }
                context.flush()
                carryOut(after, after: nil)
            } else {
                carryOut(after, after: context.writeAndFlush(wrapOutboundOut(end ?? context.channel.allocator.buffer(capacity: 0))))
            }
        case .ignore:
            break
        }
    }

    func upstreamReadComplete() {
        // The response's end already flushed, in the common case of a whole response in one read.
        guard clientUnflushed, let context else { return }
        clientUnflushed = false
        context.flush()
    }

    func upstreamWritabilityChanged() {
        machine.upstreamWritabilityChanged(exchange?.upstream?.isWritable ?? true)
        resumeClientReads()
    }

    func upstreamFailed(_ error: any Error) {
        guard let exchange else { return }
        let route = exchange.plan.route
        switch machine.upstreamFailed() {
        case .retryOnNewConnection:
            // A pooled connection the upstream closed while it sat idle: send the request
            // again on a new connection (it is idempotent and bodiless).
            exchange.upstream?.close()
            exchange.upstream = nil
            exchange.requestSentAt = nil
            connect(exchange, fresh: true)
        case .fail(let failure):
            route.metrics.upstreamError(.reset)
            environment.logger.warning("upstream exchange failed", metadata: ["tg.route": "\(route.name)", "error": "\(error)"])
            settle(failure, with: GatewayAnswer(.upstreamError, detail: "the upstream closed the connection or failed before completing the response", route: route.name))
        }
    }
}
