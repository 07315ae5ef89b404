import NIOCore
import NIOHTTP1

// The upstream half of an exchange: getting a connection, sending the request, and
// relaying the response.
extension ProxyHandler {
    func connect(_ exchange: Exchange, fresh: Bool) {
        guard let pool else {
            fail(exchange, with: GatewayError(status: .internalServerError, code: "internal_error", detail: "no upstream pool for this event loop", route: exchange.plan.route.name))
            return
        }
        let route = exchange.plan.route
        if exchange.upstreamStartedAt == nil { exchange.upstreamStartedAt = .now() }
        pool.acquire(route.endpoint, connectTimeout: route.connectTimeout, fresh: fresh) { [weak self] result in
            self?.connected(exchange, result)
        }
    }

    private func connected(_ exchange: Exchange, _ result: Result<UpstreamConnection, any Error>) {
        guard case .forwarding(let current) = state, current === exchange else {
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
            fail(exchange, with: timedOut
                ? GatewayError(status: .gatewayTimeout, code: "upstream_connect_timeout", detail: "could not connect to the upstream within \(route.config.timeouts.connect)", route: route.name)
                : GatewayError(status: .badGateway, code: "upstream_unreachable", detail: "could not connect to the upstream", route: route.name))
            return
        case .success(let value):
            connection = value
        }
        exchange.upstream = connection
        exchange.touch()
        connection.handler.delegate = self
        connection.handler.write(.head(exchange.plan.upstreamHead))
        for buffer in exchange.pendingBody { connection.handler.write(.body(.byteBuffer(buffer))) }
        exchange.pendingBody.removeAll()
        if exchange.requestEnded {
            connection.handler.write(.end(nil))
            connection.handler.flush()
            requestFullySent(exchange)
        } else {
            connection.handler.flush()
            exchangeTimer?.set(exchange.deadline.at)
        }
        resumeClientReads()
    }

    func requestFullySent(_ exchange: Exchange) {
        exchange.requestSentAt = .now()
        exchangeTimer?.set(exchange.deadline.at)
    }

    /// The exchange timer fired: time out if the exchange's own deadline has really passed.
    func exchangeDeadlinePassed() {
        guard case .forwarding(let exchange) = state else { return }
        let deadline = exchange.deadline
        if deadline.at > .now() {
            exchangeTimer?.set(deadline.at)
            return
        }
        exchange.plan.route.metrics.upstreamError(.timeout)
        environment.logger.warning("upstream timed out", metadata: ["tg.route": "\(exchange.plan.route.name)", "timeout": "\(deadline.kind)"])
        fail(exchange, with: exchange.timeoutError(deadline.kind))
    }
}

// MARK: Upstream events

extension ProxyHandler: UpstreamResponseDelegate {
    var clientIsWritable: Bool { context?.channel.isWritable ?? false }

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard case .forwarding(let exchange) = state, let context else { return }
        if shouldRetryUnauthorized(head, exchange) {
            // Not the client's business yet: read this answer to its end, then retry.
            exchange.discardingUnauthorized = true
            exchange.touch()
            return
        }
        exchange.responseStarted = true
        exchange.responseStatus = Int(head.status.code)
        exchange.touch()
        // A response that arrives before the request body is complete ends the connection:
        // the rest of that body has nowhere to go. So does a shutdown in progress.
        if !exchange.requestEnded || closeAfterExchange { exchange.clientKeepAlive = false }
        let clientHead = ResponseRules.clientHead(from: head, exchange: exchange)
        context.write(wrapOutboundOut(.head(clientHead)), promise: nil)
        exchangeTimer?.set(exchange.deadline.at)
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        guard case .forwarding(let exchange) = state, let context else { return }
        exchange.touch()
        if exchange.discardingUnauthorized { return }
        exchange.responseBodyBytes += buffer.readableBytes
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    func upstreamResponseEnd(reusable: Bool) {
        guard case .forwarding(let exchange) = state, let context else { return }
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            if reusable && exchange.requestSent {
                pool?.release(upstream)
            } else {
                upstream.close()
            }
        }
        if exchange.discardingUnauthorized {
            retryWithFreshToken(exchange)
            return
        }
        record(exchange, status: exchange.responseStatus ?? 502)
        if exchange.clientKeepAlive && !closeAfterExchange {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            finishedExchange(keepAlive: true)
        } else {
            exchangeTimer?.clear()
            closeAfter(context.writeAndFlush(wrapOutboundOut(.end(nil))))
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamWritabilityChanged() {
        resumeClientReads()
    }

    func upstreamFailed(_ error: any Error) {
        guard case .forwarding(let exchange) = state else { return }
        let route = exchange.plan.route
        // A pooled connection the upstream closed while it sat idle: send the request again
        // on a new connection when that cannot repeat a side effect.
        if !exchange.responseStarted, exchange.retries == 0, exchange.upstream?.isReused == true,
           exchange.plan.isReplayable, exchange.requestEnded {
            exchange.retries += 1
            exchange.discardingUnauthorized = false
            exchange.upstream?.close()
            exchange.upstream = nil
            exchange.requestSentAt = nil
            connect(exchange, fresh: true)
            return
        }
        route.metrics.upstreamError(.reset)
        environment.logger.warning("upstream exchange failed", metadata: ["tg.route": "\(route.name)", "error": "\(error)"])
        fail(exchange, with: GatewayError(status: .badGateway, code: "upstream_error", detail: "the upstream closed the connection or failed before completing the response", route: route.name))
    }
}
