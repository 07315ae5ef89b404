import Logging
import NIOCore
import NIOHTTP1

/// What every connection of one listener shares.
struct ListenerEnvironment: Sendable {
    let name: String
    let snapshots: SnapshotStore
    let pools: UpstreamPools
    let logger: Logger
}

/// The per-connection proxy: reads requests from a client, forwards each one over a
/// pooled upstream connection on the same event loop, and streams the response back.
///
/// Backpressure both ways: the client is read only while the upstream is writable (and
/// connected), the upstream only while the client is writable. Pipelined requests are
/// serialised by `HTTPServerPipelineHandler` in front of this handler.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Waiting for a request head.
        case idle
        /// The gateway answered on its own; the rest of the request is read and dropped.
        case discarding(closeAtEnd: Bool)
        case forwarding(Exchange)
        case closed
    }

    private let environment: ListenerEnvironment
    private let headTimer: RequestHeadTimer
    private var context: ChannelHandlerContext?
    private var pool: UpstreamPool?
    private var peer: IPAddress?
    private var state = State.idle
    private var readPending = false

    init(environment: ListenerEnvironment, headTimer: RequestHeadTimer) {
        self.environment = environment
        self.headTimer = headTimer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = environment.pools.pool(for: context.eventLoop)
        peer = context.channel.remoteAddress?.ipAddress.flatMap(IPAddress.init)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandonExchange()
        self.context = nil
    }

    // MARK: Client events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): receivedHead(head)
        case .body(let buffer): receivedBody(buffer)
        case .end: receivedEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .forwarding(let exchange) = state { exchange.upstream?.handler.flush() }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        abandonExchange()
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, case .idle = state {
            let answer: GatewayError
            switch parserError {
            case .headerOverflow: answer = .headersTooLarge("request head is larger than the listener allows")
            default: answer = .badRequest("malformed HTTP request")
            }
            respond(with: answer, version: .http1_1, keepAlive: false)
            state = .closed
            return
        }
        abandonExchange()
        state = .closed
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .forwarding(let exchange) = state {
            exchange.upstream?.handler.resumeReading()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if mayReadClient {
            context.read()
        } else {
            readPending = true
        }
    }

    /// The client is read unless a request body has nowhere to go yet: while the upstream
    /// connection is being made, or while the upstream cannot take more bytes.
    private var mayReadClient: Bool {
        guard case .forwarding(let exchange) = state, !exchange.requestEnded else { return true }
        guard let upstream = exchange.upstream else { return false }
        return upstream.isWritable
    }

    private func resumeClientReads() {
        guard readPending, mayReadClient, let context else { return }
        readPending = false
        context.read()
    }

    private func receivedHead(_ head: HTTPRequestHead) {
        headTimer.headReceived()
        let snapshot = environment.snapshots.current
        guard let listener = snapshot.config.listener(named: environment.name) else {
            respondAndDiscard(GatewayError.notFound(), to: head)
            return
        }
        let planner = RequestPlanner(listener: listener, router: snapshot.router(forListener: environment.name))
        switch planner.plan(head, peer: peer) {
        case .failure(let answer):
            respondAndDiscard(answer, to: head)
        case .success(let plan):
            let exchange = Exchange(plan: plan, clientVersion: head.version, method: head.method)
            state = .forwarding(exchange)
            if plan.expectsContinue, let context {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
            connect(exchange, fresh: false)
        }
    }

    private func receivedBody(_ buffer: ByteBuffer) {
        guard case .forwarding(let exchange) = state else { return }
        exchange.requestBodyBytes += buffer.readableBytes
        let route = exchange.plan.route
        if exchange.requestBodyBytes > route.config.maxBodyBytes {
            fail(exchange, with: .bodyTooLarge(route: route.name, limit: route.config.maxBodyBytes))
            return
        }
        exchange.touch()
        if let upstream = exchange.upstream {
            upstream.handler.write(.body(.byteBuffer(buffer)))
        } else {
            exchange.pendingBody.append(buffer)
        }
    }

    private func receivedEnd() {
        switch state {
        case .discarding(let closeAtEnd):
            if closeAtEnd {
                state = .closed
                context?.close(promise: nil)
            } else {
                state = .idle
                headTimer.awaitingRequest()
            }
        case .forwarding(let exchange):
            exchange.requestEnded = true
            if let upstream = exchange.upstream {
                upstream.handler.write(.end(nil))
                upstream.handler.flush()
                requestFullySent(exchange)
            }
        case .idle, .closed:
            break
        }
    }

    // MARK: Upstream connection

    private func connect(_ exchange: Exchange, fresh: Bool) {
        guard let pool else {
            fail(exchange, with: GatewayError(status: .internalServerError, code: "internal_error", detail: "no upstream pool for this event loop", route: exchange.plan.route.name))
            return
        }
        let route = exchange.plan.route
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
            let timedOut = (error as? ChannelError).map { if case .connectTimeout = $0 { return true } else { return false } } ?? false
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
            armIdleTimer(exchange)
        }
        resumeClientReads()
    }

    private func requestFullySent(_ exchange: Exchange) {
        exchange.requestSent = true
        guard !exchange.responseStarted, let context else { return }
        // Until the response head arrives, the response-header timeout is the one that counts.
        exchange.idleTimer?.cancel()
        exchange.idleTimer = nil
        let timeout = exchange.plan.route.responseHeaderTimeout
        exchange.responseHeadTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self, weak exchange] in
            guard let self, let exchange, !exchange.responseStarted else { return }
            let route = exchange.plan.route
            self.environment.logger.warning("upstream response timed out", metadata: ["tg.route": "\(route.name)"])
            self.fail(exchange, with: GatewayError(status: .gatewayTimeout, code: "upstream_timeout", detail: "the upstream sent no response within \(route.config.timeouts.responseHeader)", route: route.name))
        }
    }

    /// Closes the exchange when neither side has moved for the route's idle timeout.
    private func armIdleTimer(_ exchange: Exchange) {
        guard let context else { return }
        let timeout = exchange.plan.route.idleTimeout
        exchange.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: exchange.lastActivity + timeout) { [weak self, weak exchange] in
            guard let self, let exchange, case .forwarding(let current) = self.state, current === exchange else { return }
            if NIODeadline.now() - exchange.lastActivity < timeout {
                self.armIdleTimer(exchange)
                return
            }
            let route = exchange.plan.route
            self.environment.logger.warning("upstream exchange idle too long", metadata: ["tg.route": "\(route.name)"])
            self.fail(exchange, with: GatewayError(status: .gatewayTimeout, code: "upstream_timeout", detail: "no data moved for \(route.config.timeouts.idle)", route: route.name))
        }
    }

    // MARK: Ending exchanges

    /// Answers on the gateway's behalf when forwarding cannot go on. Before the response
    /// head, the client gets a JSON error; after it, the only honest signal is a close.
    private func fail(_ exchange: Exchange, with answer: GatewayError) {
        exchange.cancelTimers()
        exchange.upstream?.close()
        exchange.upstream = nil
        guard case .forwarding(let current) = state, current === exchange else { return }
        if exchange.responseStarted {
            state = .closed
            context?.close(promise: nil)
            return
        }
        let keepAlive = exchange.requestEnded && exchange.plan.clientKeepAlive
        respond(with: answer, version: exchange.clientVersion, keepAlive: keepAlive)
        if keepAlive {
            state = .idle
            headTimer.awaitingRequest()
        } else {
            state = .closed
        }
    }

    /// Drops the exchange because the client is gone.
    private func abandonExchange() {
        guard case .forwarding(let exchange) = state else { return }
        exchange.cancelTimers()
        exchange.upstream?.close()
        exchange.upstream = nil
    }

    private func respondAndDiscard(_ answer: GatewayError, to head: HTTPRequestHead) {
        let framing = RequestPlanner.framing(head)
        let hasBody: Bool
        switch framing {
        case .success(let value): hasBody = value.chunked || (value.contentLength ?? 0) > 0
        case .failure: hasBody = true
        }
        // A request with a body we will not read is closed rather than drained: its framing
        // may be the very thing that was wrong, and draining costs bandwidth for nothing.
        // After a malformed request (400) nothing later on the connection is trusted either.
        let keepAlive = head.isKeepAlive && !hasBody && answer.status != .badRequest
        respond(with: answer, version: head.version, keepAlive: keepAlive)
        state = keepAlive ? .discarding(closeAtEnd: false) : .closed
    }

    /// Writes a complete JSON error response; closes the connection after it unless `keepAlive`.
    private func respond(with answer: GatewayError, version: HTTPVersion, keepAlive: Bool) {
        guard let context else { return }
        let body = answer.body(allocator: context.channel.allocator)
        context.write(wrapOutboundOut(.head(answer.head(version: version, contentLength: body.readableBytes, keepAlive: keepAlive))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}

// MARK: Upstream events

extension ProxyHandler: UpstreamResponseDelegate {
    var clientIsWritable: Bool { context?.channel.isWritable ?? false }

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard case .forwarding(let exchange) = state, let context else { return }
        exchange.responseHeadTimer?.cancel()
        exchange.responseHeadTimer = nil
        exchange.responseStarted = true
        exchange.touch()
        // A response that arrives before the request body is complete ends the connection:
        // the rest of that body has nowhere to go.
        if !exchange.requestEnded { exchange.clientKeepAlive = false }
        let clientHead = ResponseRules.clientHead(from: head, exchange: exchange)
        context.write(wrapOutboundOut(.head(clientHead)), promise: nil)
        if exchange.idleTimer == nil { armIdleTimer(exchange) }
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        guard case .forwarding(let exchange) = state, let context else { return }
        exchange.touch()
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    func upstreamResponseEnd(reusable: Bool) {
        guard case .forwarding(let exchange) = state, let context else { return }
        exchange.cancelTimers()
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            if reusable && exchange.requestSent {
                pool?.release(upstream)
            } else {
                upstream.close()
            }
        }
        if exchange.clientKeepAlive {
            state = .idle
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            headTimer.awaitingRequest()
        } else {
            state = .closed
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
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
            exchange.cancelTimers()
            exchange.upstream?.close()
            exchange.upstream = nil
            connect(exchange, fresh: true)
            return
        }
        environment.logger.warning("upstream exchange failed", metadata: ["tg.route": "\(route.name)", "error": "\(error)"])
        fail(exchange, with: GatewayError(status: .badGateway, code: "upstream_error", detail: "the upstream closed the connection or failed before completing the response", route: route.name))
    }
}

/// One request being forwarded: its plan and how far it has got in each direction.
final class Exchange {
    let plan: ForwardPlan
    let clientVersion: HTTPVersion
    let method: HTTPMethod
    var clientKeepAlive: Bool
    var upstream: UpstreamConnection?
    /// Body parts that arrived before the upstream connection was ready.
    var pendingBody: [ByteBuffer] = []
    var requestBodyBytes = 0
    var requestEnded = false
    var requestSent = false
    var responseStarted = false
    var retries = 0
    var lastActivity = NIODeadline.now()
    var responseHeadTimer: Scheduled<Void>?
    var idleTimer: Scheduled<Void>?

    init(plan: ForwardPlan, clientVersion: HTTPVersion, method: HTTPMethod) {
        self.plan = plan
        self.clientVersion = clientVersion
        self.method = method
        self.clientKeepAlive = plan.clientKeepAlive
    }

    func touch() { lastActivity = .now() }

    func cancelTimers() {
        responseHeadTimer?.cancel()
        responseHeadTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
    }
}
