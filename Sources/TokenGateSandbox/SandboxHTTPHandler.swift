import NIOCore
import NIOHTTP1
import NIOPosix

/// Reads one whole request (bodies up to 64 KiB), lets `SandboxState` answer it.
final class SandboxHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: SandboxState
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(state: SandboxState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var buffer):
            if body.readableBytes + buffer.readableBytes <= 64 * 1024 { body.writeBuffer(&buffer) }
        case .end:
            guard let head else { return }
            self.head = nil
            let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
            guard let endpoint = SandboxAuthorizationServer.Endpoint.allCases.first(where: { $0.path == path }) else {
                write(SandboxResponse.json(404, ["error": "not_found"]), keepAlive: head.isKeepAlive, context: context)
                return
            }
            let request = SandboxAuthorizationServer.RecordedRequest(
                method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) },
                body: body.getString(at: body.readerIndex, length: body.readableBytes) ?? ""
            )
            let response = state.handle(endpoint, request)
            if let delay = response.delay {
                let (seconds, attoseconds) = delay.components
                let keepAlive = head.isKeepAlive
                context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)) {
                    self.write(response, keepAlive: keepAlive, context: context)
                }
            } else {
                write(response, keepAlive: head.isKeepAlive, context: context)
            }
        }
    }

    private func write(_ response: SandboxResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        if response.reset {
            // SO_LINGER 0 turns the close into a TCP reset.
            let channel = context.channel
            guard let provider = channel as? any SocketOptionProvider else {
                channel.close(promise: nil)
                return
            }
            provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        var headers = HTTPHeaders(response.headers)
        headers.add(name: "Content-Length", value: String(response.body.utf8.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers))), promise: nil)
        if !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
