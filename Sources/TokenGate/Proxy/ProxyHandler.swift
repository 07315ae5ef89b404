import Logging
import NIOCore
import NIOHTTP1

/// What every connection of one listener shares.
struct ListenerEnvironment: Sendable {
    let name: String
    let snapshots: SnapshotStore
    let pools: UpstreamPools
    let logger: Logger
    let telemetry: Telemetry
    /// Metrics for requests that no route matched.
    let unmatched: RouteMetrics

    init(name: String, snapshots: SnapshotStore, pools: UpstreamPools, logger: Logger, telemetry: Telemetry) {
        self.name = name
        self.snapshots = snapshots
        self.pools = pools
        self.logger = logger
        self.telemetry = telemetry
        self.unmatched = telemetry.metrics.route(listener: name, route: "")
    }
}

/// The per-connection proxy: reads requests from a client, forwards each one over a
/// pooled upstream connection on the same event loop, and streams the response back.
///
/// Backpressure both ways: the client is read only while the upstream is writable (and
/// connected), the upstream only while the client is writable. Pipelined requests are
/// held back here, in order, until the exchange before them has finished; reading is
/// never paused for a client that does not pipeline, which saves two `epoll_ctl` calls a
/// request over `HTTPServerPipelineHandler`.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    enum State {
        /// Waiting for a request head.
        case idle
        /// The gateway answered on its own; the rest of the request is read and dropped.
        case discarding
        case forwarding(Exchange)
        /// The response is out and our side is shut; the rest of the request is read and
        /// dropped for a moment so the client sees the response, not a reset.
        case lingering
        case closed
    }

    /// Lingering close bounds (nginx's `lingering_time` / a byte cap).
    static let lingerTime = TimeAmount.seconds(2)
    static let lingerBytes = 1 << 20

    let environment: ListenerEnvironment
    let headTimer: RequestHeadTimer
    var context: ChannelHandlerContext?
    var pool: UpstreamPool?
    private var peer: IPAddress?
    var peerText = "unknown"
    var requestIDs = RequestIDGenerator()
    var state = State.idle
    /// The current request's `.end` has arrived; any further parts belong to the next one.
    var requestComplete = true
    /// Parts of pipelined requests, waiting for the current exchange to finish.
    var pipelined = CircularBuffer<HTTPServerRequestPart>()
    /// Close once the current exchange is done (quiescing, or a protocol error behind it).
    var closeAfterExchange = false
    private var readPending = false
    var exchangeTimer: LazyDeadlineTimer?
    var lingeredBytes = 0

    init(environment: ListenerEnvironment, headTimer: RequestHeadTimer) {
        self.environment = environment
        self.headTimer = headTimer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = environment.pools.pool(for: context.eventLoop)
        peer = context.channel.remoteAddress?.ipAddress.flatMap(IPAddress.init)
        peerText = peer?.description ?? "unknown"
        let timer = LazyDeadlineTimer(eventLoop: context.eventLoop)
        timer.onExpiry = { [weak self] in self?.exchangeDeadlinePassed() }
        exchangeTimer = timer
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandonExchange()
        exchangeTimer?.cancel()
        exchangeTimer = nil
        self.context = nil
    }

    // MARK: Client events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .lingering = state {
            linger(part)
            return
        }
        if requestComplete, !isReadyForRequest {
            // A pipelined request: it waits its turn, and reading pauses until it gets it.
            if case .closed = state { return }
            pipelined.append(part)
            return
        }
        dispatch(part)
    }

    private var isReadyForRequest: Bool {
        if case .idle = state { return true }
        return false
    }

    private func dispatch(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            requestComplete = false
            receivedHead(head)
        case .body(let buffer):
            receivedBody(buffer)
        case .end:
            requestComplete = true
            receivedEnd()
        }
    }

    /// Hands held-back pipelined parts to the handler, one request at a time.
    func drainPipelined() {
        while !pipelined.isEmpty, !requestComplete || isReadyForRequest {
            dispatch(pipelined.removeFirst())
        }
        resumeClientReads()
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

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Shutting down: an idle connection closes now, a busy one after its response.
        if case .idle = state, requestComplete {
            state = .closed
            context.close(promise: nil)
        } else {
            closeAfterExchange = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            abandonExchange()
            state = .closed
            context.close(promise: nil)
            return
        }
        if case .idle = state, requestComplete {
            // A half-read head found when the connection closed (the client left, or the
            // header timer already answered 408 and closed): nobody is left to answer.
            guard context.channel.isActive else {
                state = .closed
                return
            }
            let answer: GatewayError
            switch error as? HTTPParserError {
            case .headerOverflow?: answer = .headersTooLarge("request head is larger than the listener allows")
            default: answer = .badRequest("malformed HTTP request")
            }
            let startedAt = NIODeadline.now()
            let written = respond(with: answer, version: .http1_1, keepAlive: false)
            recordRefusal(answer, head: nil, startedAt: startedAt, policy: environment.snapshots.current.accessLog, bytesOut: written.bodyBytes)
            closeAfter(written.future, linger: false)
        } else if !requestComplete {
            // The request being forwarded is itself malformed (a broken chunk, say): the
            // upstream must not see the rest, and no answer can be trusted to frame.
            abandonExchange(status: 400, error: "bad_request")
            state = .closed
            context.close(promise: nil)
        } else {
            // Garbage behind a complete request in flight: that exchange finishes, then the
            // connection closes.
            closeAfterExchange = true
            pipelined.removeAll()
        }
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

    /// The client is read unless a request body has nowhere to go yet (the upstream
    /// connection is being made, or cannot take more bytes) or pipelined requests wait.
    private var mayReadClient: Bool {
        if !pipelined.isEmpty { return false }
        guard case .forwarding(let exchange) = state, !exchange.requestEnded else { return true }
        guard let upstream = exchange.upstream else { return false }
        return upstream.isWritable
    }

    func resumeClientReads() {
        guard readPending, mayReadClient, let context else { return }
        readPending = false
        context.read()
    }

    private func receivedHead(_ head: HTTPRequestHead) {
        headTimer.headReceived()
        let startedAt = NIODeadline.now()
        let snapshot = environment.snapshots.current
        guard let planner = snapshot.planner(forListener: environment.name) else {
            respondAndDiscard(GatewayError.notFound(), to: head, startedAt: startedAt, policy: snapshot.accessLog)
            return
        }
        switch planner.plan(head, peer: peer, peerText: peerText, requestIDs: &requestIDs) {
        case .failure(let answer):
            respondAndDiscard(answer, to: head, startedAt: startedAt, policy: snapshot.accessLog)
        case .success(let plan):
            let exchange = Exchange(plan: plan, head: head, startedAt: startedAt, accessLog: snapshot.accessLog)
            state = .forwarding(exchange)
            if plan.expectsContinue, let context {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
            admit(exchange)
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
        if route.credential != nil { exchange.keepForReplay(buffer) }
        if let upstream = exchange.upstream {
            upstream.handler.write(.body(.byteBuffer(buffer)))
        } else {
            exchange.pendingBody.append(buffer)
        }
    }

    private func receivedEnd() {
        switch state {
        case .discarding:
            finishedExchange(keepAlive: true)
        case .forwarding(let exchange):
            exchange.requestEnded = true
            if let upstream = exchange.upstream {
                upstream.handler.write(.end(nil))
                upstream.handler.flush()
                requestFullySent(exchange)
            }
        case .idle, .lingering, .closed:
            break
        }
    }

    // MARK: Ending exchanges

    /// The exchange is over: wait for the next request, or close.
    func finishedExchange(keepAlive: Bool) {
        exchangeTimer?.clear()
        guard keepAlive, !closeAfterExchange else {
            state = .closed
            context?.close(promise: nil)
            return
        }
        state = .idle
        headTimer.awaitingRequest()
        if !pipelined.isEmpty { drainPipelined() }
    }

    /// Answers on the gateway's behalf when forwarding cannot go on. Before the response
    /// head, the client gets a JSON error; after it, the only honest signal is a close.
    func fail(_ exchange: Exchange, with answer: GatewayError) {
        exchange.upstream?.close()
        exchange.upstream = nil
        guard case .forwarding(let current) = state, current === exchange else { return }
        if exchange.responseStarted {
            record(exchange, status: exchange.responseStatus ?? Int(answer.status.code), error: answer.code)
            exchangeTimer?.clear()
            state = .closed
            context?.close(promise: nil)
            return
        }
        // A request without a body can stay on its connection even if its `.end` is still
        // to come (it is read and dropped); one with a body not yet read cannot.
        let requestDone = exchange.requestEnded || !exchange.plan.hasBody
        let keepAlive = requestDone && exchange.plan.clientKeepAlive && !closeAfterExchange
        let written = respond(with: answer, version: exchange.clientVersion, keepAlive: keepAlive)
        record(exchange, status: Int(answer.status.code), bytesOut: written.bodyBytes, error: answer.code)
        if keepAlive {
            if exchange.requestEnded {
                finishedExchange(keepAlive: true)
            } else {
                exchangeTimer?.clear()
                state = .discarding
            }
        } else {
            exchangeTimer?.clear()
            closeAfter(written.future)
        }
    }

    /// Drops the exchange because the client is gone (logged as nginx's 499, "client
    /// closed request") or sent something that cannot be forwarded.
    private func abandonExchange(status: Int = 499, error: String = "client_closed") {
        guard case .forwarding(let exchange) = state else { return }
        exchange.upstream?.close()
        exchange.upstream = nil
        record(exchange, status: exchange.responseStatus ?? status, error: error)
    }
}
