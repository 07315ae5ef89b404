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
    /// `POST /reload`.
    var reload: @Sendable () async -> ReloadOutcome?

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

    static let reloadForbidden = Answer(
        status: .forbidden,
        body: #"{"error":"forbidden","detail":"POST /reload is accepted from the gateway's own host only; send SIGHUP or change the file"}"#
    )

    func answer(method: HTTPMethod, path: String) -> Answer {
        if path == "/reload" {
            return Answer(status: .methodNotAllowed, body: #"{"error":"method_not_allowed","detail":"use POST"}"#)
        }
        guard method == .GET || method == .HEAD else {
            return Answer(status: .methodNotAllowed, body: #"{"error":"method_not_allowed"}"#)
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
            return Answer(status: .notFound, body: #"{"error":"not_found"}"#)
        }
    }
}

/// The admin listener: a few small JSON endpoints for probes and operators.
final class AdminHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: AdminRoutes
    private var request: HTTPRequestHead?

    init(routes: AdminRoutes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            if path == "/reload" && head.method == .POST {
                let peer = context.channel.remoteAddress?.ipAddress.flatMap(IPAddress.init)
                guard AdminRoutes.mayReload(from: peer) else {
                    write(AdminRoutes.reloadForbidden, for: head, context: context)
                    return
                }
                // The reload runs on the control plane; the answer comes back on this loop.
                let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
                let reload = routes.reload
                Task {
                    let outcome = await reload()
                    bound.eventLoop.execute {
                        let answer = AdminRoutes.Answer(status: outcome?.succeeded == true ? .ok : .unprocessableEntity, body: outcome?.json ?? "{}")
                        bound.value.handler.write(answer, for: head, context: bound.value.context)
                    }
                }
                return
            }
            write(routes.answer(method: head.method, path: path), for: head, context: context)
        }
    }

    private func write(_ answer: AdminRoutes.Answer, for head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        // The exposition format ends with its own newline; JSON bodies get one added.
        let body = answer.body.hasSuffix("\n") || answer.body.isEmpty ? answer.body : answer.body + "\n"
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: answer.status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}

enum AdminServer {
    static func bind(_ address: BindAddress, routes: AdminRoutes, group: any EventLoopGroup, tracker: ConnectionTracker) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                tracker.add(channel)
                do {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(routes: routes))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
    }
}
