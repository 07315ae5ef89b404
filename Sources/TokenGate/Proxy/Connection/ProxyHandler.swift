import Logging
import NIOCore
import NIOHTTP1

/// The per-connection proxy: reads requests from a client, forwards each one over a
/// pooled upstream connection on the same event loop, and streams the response back.
///
/// It is the thin shell around `ConnectionStateMachine`: every event (in this file, and
/// the upstream's in `+Upstream`) goes to the machine with the facts the handler has, and
/// the one executor, `run(_:with:)` (`+Run`), carries out the action that comes back. It
/// holds the data that moves (the current `Exchange`, parts of pipelined requests waiting
/// their turn) and the connection's one timer (head, keep-alive and exchange deadlines
/// alike: the machine says which applies and when), but decides nothing on its own.
/// Reading is never paused for a client that does not pipeline, which saves two
/// `epoll_ctl` calls a request over `HTTPServerPipelineHandler`.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    /// Responses go out as bytes the handler builds (`HTTPHeadBuilder`, `ChunkedCoding`).
    typealias OutboundOut = ByteBuffer

    /// Lingering close bound in time (nginx's `lingering_time`).
    static let lingerTime = TimeAmount.seconds(2)
    /// A client whose next request starts within this of the answer before it keeps its
    /// connection's decoder while it idles (`restDecoderIfIdle`).
    static let quickReturn = TimeAmount.seconds(1)

    let environment: ListenerEnvironment
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
    /// Parts of pipelined requests, waiting for the exchange before them (bounded by the
    /// machine). Created when the first part has to wait: most clients never pipeline, and
    /// an empty ring buffer still allocates room for 16 parts.
    var queue: CircularBuffer<HTTPServerRequestPart>?
    /// The connection's one timer, pointed at whatever deadline the machine says applies.
    var timer: LazyDeadlineTimer?
    /// Response bytes were written to the client since the last flush.
    var clientUnflushed = false
    /// The cache key of the last bearer token this client sent.
    var tokenKeys = TokenKeyMemo()
    /// This handler serves one HTTP/2 stream (below it, `HTTP2StreamCodec`): responses go
    /// out as `HTTPServerResponsePart`s rather than bytes, and the stream ends with its
    /// one exchange.
    let servesHTTP2Stream: Bool
    /// The client certificate the TLS handshake verified, passed on as identity headers.
    let clientCertificate: ClientCertificateIdentity?
    /// An HTTP/2 stream's handler takes its timer from its connection's pool and gives it back.
    let streamTimers: DeadlineTimerPool?
    /// The connection's llhttp decoder (HTTP/1), made by `RequestHeadDecoder` on the first
    /// bytes of a request and let go while the connection idles (`restDecoderIfIdle`).
    var requestDecoder: HTTPRequestDecoder?
    /// What the decoder delivered in the feed being decoded, and whether the last feed
    /// left it between messages (its last part a request's end, its bytes ending there).
    var decodedInFeed = DecodedInFeed.nothing
    var decoderBetweenMessages = false
    /// The decoder is being fed: parts arrive from inside llhttp, which must not be let go
    /// under its own feet (a refusal answered at once ends its exchange right there).
    var decoding = false
    /// Since when the connection has idled after its last answer (nil before the first).
    var idleSince: NIODeadline?
    /// The client sent its last request within `quickReturn` of the answer before it: it
    /// reuses the connection at once, so the decoder stays (making one costs about 3,300
    /// instructions, 4 % of a proxied request).
    var returnsQuickly = false

    enum DecodedInFeed { case nothing, end, other }

    /// `headTimeout` and `idleTimeout` are the listener's header-read and keep-alive
    /// timeouts as of this connection's accept.
    init(environment: ListenerEnvironment, headTimeout: TimeAmount, idleTimeout: TimeAmount, acceptedOn: BindAddress? = nil,
         maxQueuedRequests: Int = ConnectionStateMachine.defaultMaxQueuedRequests, servesHTTP2Stream: Bool = false,
         clientCertificate: ClientCertificateIdentity? = nil, streamTimers: DeadlineTimerPool? = nil) {
        self.environment = environment
        self.streamTimers = streamTimers
        self.servesHTTP2Stream = servesHTTP2Stream
        self.clientCertificate = clientCertificate
        self.acceptedOn = acceptedOn
        self.machine = ConnectionStateMachine(maxQueuedRequests: maxQueuedRequests, headTimeout: headTimeout, keepAliveTimeout: idleTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = environment.pools.pool(for: context.eventLoop)
        peer = context.channel.remoteAddress.flatMap(IPAddress.init)
        peerText = peer?.description ?? "unknown"
        let timer = streamTimers?.take() ?? LazyDeadlineTimer(eventLoop: context.eventLoop)
        timer.onExpiry = { [weak self] in self?.timerFired() }
        self.timer = timer
        run(machine.accepted(at: context.eventLoop.now))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        run(machine.clientClosed())
        if let timer, let streamTimers { streamTimers.give(timer) } else { timer?.cancel() }
        timer = nil
        self.context = nil
    }

    // MARK: Client events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head:
            decodedInFeed = .other
            // NIO reports writability changes a tick late; a new request must see the truth.
            machine.clientWritabilityChanged(context.channel.isWritable)
            take(part, machine.partArrived(isHead: true))
        case .body(let buffer):
            decodedInFeed = .other
            take(part, machine.partArrived(isHead: false, bytes: buffer.readableBytes))
        case .end:
            decodedInFeed = .end
            take(part, machine.partArrived(isHead: false))
        }
    }

    /// Runs the machine's answer to a client part; the usual one, `.takePart`, without
    /// wrapping the part as event data (a copy of a large enum, twice a request).
    @inline(__always)
    private func take(_ part: HTTPServerRequestPart, _ action: Action) {
        if case .takePart = action {
            dispatch(part)
        } else {
            run(action, with: .part(part))
        }
    }

    /// Feeds a part the machine took to it as the event it is.
    func dispatch(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head): receivedHead(head)
        case .body(let buffer): receivedBody(buffer)
        case .end: receivedEnd()
        }
    }

    /// Hands held-back pipelined parts over while the machine takes them, then reads on.
    func drainQueue() {
        while let part = queue?.first {
            if part.isHead, let context { machine.clientWritabilityChanged(context.channel.isWritable) }
            guard machine.takeQueued(isHead: part.isHead) == .takePart else { break }
            _ = queue?.removeFirst()
            dispatch(part)
        }
        resumeClientReads()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.handler.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(machine.clientClosed())
        queue = nil
        timer?.clear()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Shutting down, or the listener is gone: an idle connection closes now, a busy
        // one after its response.
        run(machine.quiesce())
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            run(machine.clientClosed())
            context.close(promise: nil)
            return
        }
        let answer: GatewayAnswer
        switch error as? HTTPParserError {
        case .headerOverflow?: answer = .headersTooLarge("request head is larger than the listener allows")
        default: answer = .badRequest("malformed HTTP request")
        }
        let refusal = EventData.refusal(answer, head: nil, startedAt: context.eventLoop.now, policy: environment.snapshots.current.accessLog)
        run(machine.parserError(connectionActive: context.channel.isActive), with: refusal)
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
        run(machine.readRequested())
    }

    func resumeClientReads() {
        run(machine.resumeRead())
    }

    // MARK: Request parts

    private func receivedHead(_ head: HTTPRequestHead) {
        guard let context else { return }
        let now = context.eventLoop.now
        let snapshot = environment.snapshots.current
        guard let planner = snapshot.planner(forListener: environment.name) else {
            refuse(GatewayAnswer(.listenerRetired), head: head, startedAt: now, policy: snapshot.accessLog, closing: true)
            return
        }
        if let acceptedOn, planner.listener.address != acceptedOn {
            // Accepted on an address the configuration no longer has: its rules (the
            // public-credential one above all) were checked for the new address, not this one.
            refuse(GatewayAnswer(.listenerRetired), head: head, startedAt: now, policy: snapshot.accessLog, closing: true)
            return
        }
        switch planner.plan(head, peer: peer, peerText: peerText, requestIDs: &requestIDs, allocator: context.channel.allocator, clientCertificate: clientCertificate) {
        case .failure(let answer):
            refuse(answer, head: head, startedAt: now, policy: snapshot.accessLog, closing: answer.status == .badRequest)
        case .success(let plan):
            let exchange = Exchange(plan: plan, head: head, startedAt: now, accessLog: snapshot.accessLog, allocator: context.channel.allocator)
            // gRPC needs HTTP/2: an HTTP/1 request is never asked for its content type.
            if servesHTTP2Stream { exchange.isGRPC = GRPCAnswer.isGRPC(head.headers) }
            self.exchange = exchange
            machine.headAccepted(exchange.facts, at: now)
            admit(exchange)
        }
    }

    private func receivedBody(_ buffer: ByteBuffer) {
        guard exchange != nil, let context else { return }
        switch machine.bodyArrived(bytes: buffer.readableBytes, at: context.eventLoop.now) {
        // The usual two without wrapping the part as event data.
        case .forwardBody: forwardBody(buffer)
        case .holdBody: holdBody(buffer)
        case let action: run(action, with: .body(buffer))
        }
    }

    private func receivedEnd() {
        guard let context else { return }
        run(machine.endArrived(at: context.eventLoop.now))
    }

    /// Refuses a request before any exchange began (no route, a malformed head, …).
    /// `closing` marks answers after which nothing on the connection is trusted.
    private func refuse(_ answer: GatewayAnswer, head: HTTPRequestHead, startedAt: NIODeadline, policy: AccessLogPolicy, closing: Bool) {
        let facts = RequestPlanner.refusalFacts(head)
        let action = machine.headRefused(hasBody: facts.hasBody, keepAlive: head.isKeepAlive, endsParsing: facts.endsParsing, malformed: closing)
        run(action, with: .refusal(answer, head: head, startedAt: startedAt, policy: policy))
    }

    /// The gateway refuses the exchange in flight (during admission, or when forwarding
    /// cannot go on): the machine decides what follows the answer.
    func refuseExchange(_ answer: GatewayAnswer) {
        run(machine.refuse(), with: .answer(answer))
    }

    // MARK: The timer

    /// Points the connection's timer at the deadline of whatever the machine now waits for
    /// (also after a wait of admission began).
    func armTimer() {
        if let deadline = machine.deadline {
            timer?.set(deadline)
        } else {
            timer?.clear()
        }
    }

    /// The timer fired: the machine says whether the current wait has really timed out.
    private func timerFired() {
        guard let context else { return }
        run(machine.deadlinePassed(at: context.eventLoop.now))
    }
}

extension ProxyHandler: RequestHeadObserver {
    /// Bytes arrived ahead of the decoder: the first of a new head start its timeout.
    func requestBytesArrived() {
        guard machine.awaitsHeadBytes, let context else { return }
        let now = context.eventLoop.now
        if let idleSince { returnsQuickly = now - idleSince < Self.quickReturn }
        run(machine.headBytesArrived(at: now))
    }

    /// The decoder is between messages only if the feed's last part was a request's end
    /// and its bytes ended on the empty line that ended it: bytes of a next request that
    /// came with them (a pipelining client's partial head) would be in the decoder.
    func decodingBegins() {
        decoding = true
        decoderBetweenMessages = false
        decodedInFeed = .nothing
    }

    func requestBytesDecoded(endedOnEmptyLine: Bool) {
        decoding = false
        decoderBetweenMessages = decodedInFeed == .end && endedOnEmptyLine
        // An answer given while the decoder was being fed (a refusal) left the connection
        // idle then; now the decoder may rest.
        restDecoderIfIdle()
    }

    /// Lets the decoder go when the connection waits for a request with nothing read of
    /// it: an idle keep-alive connection then holds no parser (about 1.1 KB). The next
    /// request's first bytes make a new one. A client that came back quickly last time
    /// keeps it (a busy keep-alive connection pays nothing); one that idled, or has sent
    /// one request so far, lets it go.
    func restDecoderIfIdle() {
        guard !decoding, !returnsQuickly, decoderBetweenMessages, requestDecoder != nil, let context,
              machine.awaitsHeadBytes, queue?.isEmpty ?? true else { return }
        decoderBetweenMessages = false
        releaseRequestDecoder(context: context)
    }
}

extension HTTPServerRequestPart {
    /// Off the hot path (queued parts, the admin listener).
    var isHead: Bool {
        if case .head = self { return true }
        return false
    }
}
