import Logging
import NIOCore
import NIOHTTP1

/// The per-connection proxy: reads requests from a client, forwards each one over a
/// pooled upstream connection on the same event loop, and streams the response back.
///
/// It is the thin shell around `ConnectionStateMachine`: every event goes to the machine,
/// and the handler carries out what comes back (write, forward, connect, close). It holds
/// the data that moves (the current `Exchange`, parts of pipelined requests waiting their
/// turn) but decides nothing on its own. Reading is never paused for a client that does
/// not pipeline, which saves two `epoll_ctl` calls a request over `HTTPServerPipelineHandler`.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    /// Responses go out as bytes the handler builds (`HTTPHeadBuilder`, `ChunkedCoding`).
    typealias OutboundOut = ByteBuffer

    /// Lingering close bound in time (nginx's `lingering_time`).
    static let lingerTime = TimeAmount.seconds(2)

    let environment: ListenerEnvironment
    let headTimer: RequestHeadTimer
    /// The address this connection's listener was bound to when it was accepted: once the
    /// configuration moves or removes that listener, the connection takes no new request.
    let acceptedOn: BindAddress?
    var context: ChannelHandlerContext?
    var pool: UpstreamPool?
    private(set) var peer: IPAddress?
    var peerText = "unknown"
    var requestIDs = RequestIDGenerator()
    var machine: ConnectionStateMachine
    /// The request being served, while there is one.
    var exchange: Exchange?
    /// Parts of pipelined requests, waiting for the exchange before them (bounded by the machine).
    var queue = CircularBuffer<HTTPServerRequestPart>()
    var exchangeTimer: LazyDeadlineTimer?
    /// Response bytes were written to the client since the last flush.
    var clientUnflushed = false
    /// The cache key of the last bearer token this client sent.
    var tokenKeys = TokenKeyMemo()

    init(environment: ListenerEnvironment, headTimer: RequestHeadTimer, acceptedOn: BindAddress? = nil,
         maxQueuedRequests: Int = ConnectionStateMachine.defaultMaxQueuedRequests) {
        self.environment = environment
        self.headTimer = headTimer
        self.acceptedOn = acceptedOn
        self.machine = ConnectionStateMachine(maxQueuedRequests: maxQueuedRequests)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = environment.pools.pool(for: context.eventLoop)
        peer = context.channel.remoteAddress?.ipAddress.flatMap(IPAddress.init)
        peerText = peer?.description ?? "unknown"
        let timer = LazyDeadlineTimer(eventLoop: context.eventLoop)
        timer.onExpiry = { [weak self] in self?.exchangeTimerFired() }
        exchangeTimer = timer
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if machine.clientClosed() { abandonExchange() }
        exchangeTimer?.cancel()
        exchangeTimer = nil
        self.context = nil
    }

    // MARK: Client events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        let arrival: ConnectionStateMachine.Arrival
        switch part {
        case .head:
            // NIO reports writability changes a tick late; a new request must see the truth.
            machine.clientWritabilityChanged(context.channel.isWritable)
            arrival = machine.partArrived(isHead: true)
        case .body(let buffer):
            arrival = machine.partArrived(isHead: false, bytes: buffer.readableBytes)
        case .end:
            arrival = machine.partArrived(isHead: false)
        }
        switch arrival {
        case .process: dispatch(part)
        case .enqueue: queue.append(part)
        case .drop: break
        case .close: context.close(promise: nil)
        }
    }

    private func dispatch(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head): receivedHead(head)
        case .body(let buffer): receivedBody(buffer)
        case .end: receivedEnd()
        }
    }

    /// Hands held-back pipelined parts over while the machine takes them, then reads on.
    func drainQueue() {
        while let part = queue.first {
            if part.isHead, let context { machine.clientWritabilityChanged(context.channel.isWritable) }
            guard machine.takeQueued(isHead: part.isHead) else { break }
            queue.removeFirst()
            dispatch(part)
        }
        resumeClientReads()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.handler.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if machine.clientClosed() { abandonExchange() }
        queue.removeAll()
        exchangeTimer?.clear()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Shutting down, or the listener is gone: an idle connection closes now, a busy
        // one after its response.
        if machine.quiesce() == .closeNow { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            if machine.clientClosed() { abandonExchange() }
            context.close(promise: nil)
            return
        }
        switch machine.parserError(connectionActive: context.channel.isActive) {
        case .answer:
            let answer: GatewayAnswer
            switch error as? HTTPParserError {
            case .headerOverflow?: answer = .headersTooLarge("request head is larger than the listener allows")
            default: answer = .badRequest("malformed HTTP request")
            }
            let startedAt = NIODeadline.now()
            let policy = environment.snapshots.current.accessLog
            let written = respond(with: answer, version: .http1_1, keepAlive: false) { bodyBytes in
                recordRefusal(answer, head: nil, startedAt: startedAt, policy: policy, bytesOut: bodyBytes)
            }
            carryOut(.close, after: written.future)
        case .abandonAndClose:
            // The request being forwarded is itself malformed (a broken chunk, say): the
            // upstream must not see the rest, and no answer can be trusted to frame.
            abandonExchange(.badRequest)
            carryOut(.close, after: nil)
        case .closeAfterExchange:
            break
        case .close:
            carryOut(.close, after: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        machine.clientWritabilityChanged(writable)
        if writable {
            exchange?.upstream?.handler.resumeReading()
            drainQueue()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if machine.readRequested() { context.read() }
    }

    func resumeClientReads() {
        guard let context, machine.resumeRead() else { return }
        context.read()
    }

    // MARK: Request parts

    private func receivedHead(_ head: HTTPRequestHead) {
        headTimer.headReceived()
        let startedAt = NIODeadline.now()
        let snapshot = environment.snapshots.current
        guard let planner = snapshot.planner(forListener: environment.name) else {
            refuse(GatewayAnswer(.listenerRetired), head: head, startedAt: startedAt, policy: snapshot.accessLog, closing: true)
            return
        }
        if let acceptedOn, planner.listener.address != acceptedOn {
            // Accepted on an address the configuration no longer has: its rules (the
            // public-credential one above all) were checked for the new address, not this one.
            refuse(GatewayAnswer(.listenerRetired), head: head, startedAt: startedAt, policy: snapshot.accessLog, closing: true)
            return
        }
        switch planner.plan(head, peer: peer, peerText: peerText, requestIDs: &requestIDs, allocator: context?.channel.allocator ?? ByteBufferAllocator()) {
        case .failure(let answer):
            refuse(answer, head: head, startedAt: startedAt, policy: snapshot.accessLog, closing: answer.status == .badRequest)
        case .success(let plan):
            let exchange = Exchange(
                plan: plan, head: head, startedAt: startedAt, accessLog: snapshot.accessLog,
                allocator: context?.channel.allocator ?? ByteBufferAllocator()
            )
            self.exchange = exchange
            machine.headAccepted(exchange.facts)
            // The admission deadline is armed only if admission has to wait (see +Admission).
            admit(exchange)
        }
    }

    private func receivedBody(_ buffer: ByteBuffer) {
        guard let exchange else { return }
        switch machine.bodyArrived(bytes: buffer.readableBytes) {
        case .forward:
            exchange.requestBodyBytes += buffer.readableBytes
            exchange.touch()
            exchange.keepForReplay(buffer)
            exchange.upstream?.handler.sendBody(buffer)
        case .hold:
            exchange.requestBodyBytes += buffer.readableBytes
            exchange.keepForReplay(buffer)
            exchange.hold(buffer)
        case .drop:
            break
        case .tooLarge(let failure, let limit):
            settle(failure, with: .bodyTooLarge(route: exchange.plan.route.name, limit: limit))
        }
    }

    private func receivedEnd() {
        switch machine.endArrived() {
        case .forwardEnd:
            guard let exchange, let upstream = exchange.upstream else { return }
            upstream.handler.sendEnd()
            upstream.handler.flush()
            exchange.requestSentAt = .now()
            armTimer()
        case .nextRequest:
            carryOut(.nextRequest, after: nil)
        case .hold:
            if let exchange, let callback = exchange.onRequestEnd {
                exchange.onRequestEnd = nil
                callback()
            }
        case .none:
            break
        }
    }

    // MARK: Deadlines

    /// Points the exchange timer at the deadline of whatever the machine now waits for.
    func armTimer() {
        if let exchange, let wait = machine.wait {
            exchangeTimer?.set(exchange.deadline(for: wait))
        } else {
            exchangeTimer?.clear()
        }
    }

    /// The exchange timer fired: time out if the current wait's deadline has really passed.
    private func exchangeTimerFired() {
        guard let exchange, let wait = machine.wait else { return }
        let deadline = exchange.deadline(for: wait)
        if deadline > .now() {
            exchangeTimer?.set(deadline)
            return
        }
        let route = exchange.plan.route
        if wait != .admission { route.metrics.upstreamError(.timeout) }
        environment.logger.warning("request timed out", metadata: ["tg.route": "\(route.name)", "timeout": "\(wait)"])
        refuseExchange(exchange.timeoutError(wait))
    }
}

extension HTTPServerRequestPart {
    /// Off the hot path (queued parts, the admin listener).
    var isHead: Bool {
        if case .head = self { return true }
        return false
    }
}
