import NIOCore
import NIOHTTP1
import NIOPosix

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
    /// The body of a `POST /revoke` being read (nil for every other request), and
    /// whether it grew past `RevokeRequest.maxBytes` (then it is no longer kept).
    private var body: [UInt8]?
    private var bodyTooLarge = false
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
            let isRevoke = head.method == .POST && (head.uri.split(separator: "?", maxSplits: 1).first ?? "") == "/revoke"
            body = isRevoke ? [] : nil
            bodyTooLarge = false
        case .body(let bytes):
            guard body != nil else { break }
            if (body?.count ?? 0) + bytes.readableBytes > RevokeRequest.maxBytes {
                bodyTooLarge = true
                body = []
            } else if !bodyTooLarge {
                body?.append(contentsOf: bytes.readableBytesView)
            }
        case .end:
            guard let head = request else { return }
            request = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            if let refusal = AdminRoutes.hostRefusal(head.headers.first(name: "host"), allowedHost: allowedHost) {
                write(refusal, for: head, context: context)
                return
            }
            if path == "/revoke" && head.method == .POST {
                let peer = context.channel.remoteAddress.flatMap(IPAddress.init)
                let received = body ?? []
                body = nil
                guard AdminRoutes.mayReload(from: peer), !AdminRoutes.isCrossSite(head.headers) else {
                    write(AdminRoutes.revokeForbidden, for: head, context: context)
                    return
                }
                write(bodyTooLarge ? AdminRoutes.revokeTooLarge : routes.revoke(received), for: head, context: context)
                return
            }
            if path == "/reload" && head.method == .POST {
                let peer = context.channel.remoteAddress.flatMap(IPAddress.init)
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
