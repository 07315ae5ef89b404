import NIOCore
import NIOHTTP1
import NIOPosix

/// What the admin listener can answer, independent of sockets so it is testable alone.
struct AdminRoutes: Sendable {
    /// True once the configuration is loaded and every listener is bound.
    var isReady: @Sendable () -> Bool
    /// `/status` JSON.
    var status: @Sendable () -> String
    /// `/metrics`: Prometheus text exposition format.
    var metrics: @Sendable () -> String
    /// `POST /reload`: queues a reload and hands its outcome (nil: no gateway to reload)
    /// to the callback, so the event loop never waits for it.
    var reload: @Sendable (_ answer: @escaping @Sendable (ReloadOutcome?) -> Void) -> Void

    /// One answer: a status document (`/status`, `/metrics`, the probes, a reload's
    /// outcome) or one of the gateway's answers from the catalogue (`init(_:)`).
    struct Answer {
        var status: HTTPResponseStatus
        var body: String
        var contentType = "application/json"
    }

    /// `POST /reload` is taken from the gateway's own host only: the admin port may be open
    /// to a cluster for probes and scraping, and a reload is an operator's act (SIGHUP, a
    /// file change, or this endpoint from the machine itself).
    static func mayReload(from peer: IPAddress?) -> Bool {
        peer?.isLoopback ?? false
    }

    static let reloadForbidden = Answer(GatewayAnswer(
        .forbidden, detail: "POST /reload is accepted from the gateway's own host only; send SIGHUP or change the file"
    ))

    func answer(method: HTTPMethod, path: String) -> Answer {
        if path == "/reload" {
            return Answer(GatewayAnswer(.methodNotAllowed, detail: "use POST"))
        }
        guard method == .GET || method == .HEAD else {
            return Answer(GatewayAnswer(.methodNotAllowed))
        }
        switch path {
        case "/healthz":
            return Answer(status: .ok, body: #"{"status":"ok"}"#)
        case "/status":
            return Answer(status: .ok, body: status())
        case "/metrics":
            return Answer(status: .ok, body: metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case "/readyz":
            return isReady()
                ? Answer(status: .ok, body: #"{"status":"ready"}"#)
                : Answer(status: .serviceUnavailable, body: #"{"status":"not_ready"}"#)
        default:
            return Answer(GatewayAnswer(.notFound))
        }
    }
}

/// The admin listener: a few small JSON endpoints for probes and operators.
///
/// Hardened like the proxy listener: requests are served one at a time and only while the
/// client reads the answers (a client that pipelines `GET /metrics` and never reads stops
/// being read), at most `maxQueuedRequests` wait, and the request head and idle timeouts
/// of `AdminHeadTimer` apply. A `Host` that is not an IP literal, `localhost` or the
/// configured admin host is refused (421), so a DNS-rebinding page cannot read `/status`;
/// `POST /reload` also refuses any request a browser marks as cross-site.
final class AdminHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxQueuedRequests = 16

    private let routes: AdminRoutes
    private let allowedHost: String
    private let headTimer: AdminHeadTimer?
    private var request: HTTPRequestHead?
    /// A reload is running; its answer comes back later.
    private var busy = false
    private var queue = CircularBuffer<HTTPServerRequestPart>()
    private var queuedHeads = 0
    private var readPending = false

    init(routes: AdminRoutes, allowedHost: String = "localhost", headTimer: AdminHeadTimer? = nil) {
        self.routes = routes
        self.allowedHost = allowedHost.lowercased()
        self.headTimer = headTimer
    }

    private func mayServe(_ context: ChannelHandlerContext) -> Bool {
        !busy && queue.isEmpty && context.channel.isWritable
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if !mayServe(context) {
            if part.isHead {
                queuedHeads += 1
                guard queuedHeads <= Self.maxQueuedRequests else {
                    queue.removeAll()
                    context.close(promise: nil)
                    return
                }
            }
            queue.append(part)
            return
        }
        serve(part, context: context)
    }

    private func drain(_ context: ChannelHandlerContext) {
        while !busy, context.channel.isWritable, let part = queue.popFirst() {
            if part.isHead { queuedHeads -= 1 }
            serve(part, context: context)
        }
        if readPending, mayServe(context) {
            readPending = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if mayServe(context) { context.read() } else { readPending = true }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drain(context) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        queue.removeAll()
        context.fireChannelInactive()
    }

    private func serve(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            headTimer?.headReceived()
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            if let refusal = AdminRoutes.hostRefusal(head.headers.first(name: "host"), allowedHost: allowedHost) {
                write(refusal, for: head, context: context)
                return
            }
            if path == "/reload" && head.method == .POST {
                let peer = context.channel.remoteAddress?.ipAddress.flatMap(IPAddress.init)
                guard AdminRoutes.mayReload(from: peer), !AdminRoutes.isCrossSite(head.headers) else {
                    write(AdminRoutes.reloadForbidden, for: head, context: context)
                    return
                }
                // The reload runs on the control plane (its reload worker); the answer comes
                // back on this loop.
                busy = true
                let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
                routes.reload { outcome in
                    bound.eventLoop.execute {
                        let answer = AdminRoutes.Answer(status: outcome?.succeeded == true ? .ok : .unprocessableEntity, body: outcome?.json ?? "{}")
                        let handler = bound.value.handler
                        handler.busy = false
                        handler.write(answer, for: head, context: bound.value.context)
                        handler.drain(bound.value.context)
                    }
                }
                return
            }
            write(routes.answer(method: head.method, path: path), for: head, context: context)
        }
    }

    private func write(_ answer: AdminRoutes.Answer, for head: HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = head.isKeepAlive && answer.status != .misdirectedRequest
        let rendered = answer.rendered(version: head.version, keepAlive: keepAlive, method: head.method, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(.head(rendered.head)), promise: nil)
        if rendered.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(rendered.body))), promise: nil)
        }
        headTimer?.awaitingRequest()
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { BoundedClose.close(context.channel, after: written, within: AdminServer.idleTimeout) }
    }
}

extension AdminRoutes.Answer {
    /// One of the gateway's answers from the catalogue, with the body the proxy sends.
    init(_ answer: GatewayAnswer) {
        self.init(status: answer.status, body: answer.bodyText, contentType: answer.contentType)
    }

    /// Rendered as the proxy renders its answers (`RenderedAnswer`). The exposition format
    /// ends with its own newline; other bodies get one added.
    func rendered(version: HTTPVersion, keepAlive: Bool, method: HTTPMethod, allocator: ByteBufferAllocator) -> RenderedAnswer {
        let text = body.hasSuffix("\n") || body.isEmpty ? body : body + "\n"
        return RenderedAnswer(
            status: status, contentType: contentType, body: allocator.buffer(string: text), version: version, keepAlive: keepAlive, method: method
        )
    }
}

extension AdminRoutes {
    static let misdirected = Answer(GatewayAnswer(.misdirectedRequest))

    /// Refuses a `Host` a DNS-rebinding page would send: anything but an IP literal,
    /// `localhost` or the configured admin host (probes and scrapers use IPs).
    static func hostRefusal(_ host: String?, allowedHost: String) -> Answer? {
        guard let host, let name = RequestPlanner.hostName(host) else { return misdirected }
        if name.isEmpty || name == "localhost" || name == allowedHost || IPAddress(name) != nil { return nil }
        return misdirected
    }

    /// Whether a browser marked the request as coming from another site's page: such a page
    /// must not trigger a reload (a `POST` without preflight is a simple request).
    static func isCrossSite(_ headers: HTTPHeaders) -> Bool {
        if let site = headers.first(name: "sec-fetch-site"), site != "same-origin", site != "none" { return true }
        return headers.first(name: "origin") != nil
    }
}

enum AdminServer {
    /// Most admin connections open at once; more are closed as they arrive.
    static let maxConnections = 64
    static let headTimeout = TimeAmount.seconds(10)
    static let idleTimeout = TimeAmount.seconds(60)

    static func bind(_ address: BindAddress, routes: AdminRoutes, group: any EventLoopGroup, tracker: ConnectionTracker) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard tracker.add(channel, listener: "admin", limit: maxConnections) else {
                    return channel.close()
                }
                do {
                    let timer = AdminHeadTimer(headTimeout: headTimeout, idleTimeout: idleTimeout)
                    try channel.pipeline.syncOperations.addHandler(timer)
                    var limits = NIOHTTPDecoderLimitConfiguration()
                    limits.maxHeaderListSize = 16 * 1024
                    limits.maxHeaderFieldSize = 8 * 1024
                    limits.maxHeaderFieldCount = 64
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: true,
                        withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits
                    )
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(routes: routes, allowedHost: address.host, headTimer: timer))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
    }
}
