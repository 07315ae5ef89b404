import NIOCore
import NIOHTTP1

/// Guards a client connection against clients that trickle a request head (slowloris)
/// and against keep-alive connections that sit idle forever.
///
/// It sits first in the pipeline, so it sees raw bytes before the HTTP decoder: the first
/// bytes of a new request switch the connection from the idle timeout to the (shorter)
/// header-read timeout, and the proxy handler tells it when a whole head has arrived and
/// when the connection is waiting for the next request. On expiry it acts alone: an idle
/// connection is closed; a half-read head gets a 408 written below the HTTP codec (no
/// request exists for the codec to answer) and the connection is closed.
final class RequestHeadTimer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Phase { case idle, readingHead, busy }

    private let headTimeout: TimeAmount
    /// How long a keep-alive connection may idle; also how long a closing answer's last
    /// bytes may wait for a client that does not read them.
    let idleTimeout: TimeAmount
    /// Called when a head did not arrive in time, with when it began and the size of the
    /// 408 body written (for metrics and the access log).
    private let onHeadTimeout: ((_ startedAt: NIODeadline, _ bodyBytes: Int) -> Void)?
    private var phase = Phase.readingHead
    private var headStartedAt = NIODeadline.now()
    private var timer: LazyDeadlineTimer?
    private var context: ChannelHandlerContext?

    init(headTimeout: TimeAmount, idleTimeout: TimeAmount, onHeadTimeout: ((_ startedAt: NIODeadline, _ bodyBytes: Int) -> Void)? = nil) {
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
        self.onHeadTimeout = onHeadTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let timer = LazyDeadlineTimer(eventLoop: context.eventLoop)
        timer.onExpiry = { [weak self] in self?.expired() }
        self.timer = timer
        // A new connection is expected to send its first request promptly.
        timer.set(.now() + headTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if phase == .idle {
            phase = .readingHead
            headStartedAt = .now()
            timer?.set(headStartedAt + headTimeout)
        }
        context.fireChannelRead(data)
    }

    /// A whole request head arrived: no deadline until the exchange finishes.
    func headReceived() {
        phase = .busy
        timer?.clear()
    }

    /// The exchange finished and the connection stays open for another request.
    func awaitingRequest() {
        phase = .idle
        timer?.set(.now() + idleTimeout)
    }

    private func expired() {
        guard let context else { return }
        switch phase {
        case .idle:
            context.close(promise: nil)
        case .readingHead:
            phase = .busy
            // Rendered as every other answer of the gateway's own (`RenderedAnswer`), as bytes:
            // the codec above has no request to answer.
            let allocator = context.channel.allocator
            let rendered = GatewayAnswer(.requestTimeout).rendered(version: .http1_1, keepAlive: false, method: .GET, allocator: allocator)
            guard var bytes = rendered.headBytes(allocator: allocator) else {
                context.close(promise: nil)
                return
            }
            bytes.writeImmutableBuffer(rendered.body)
            onHeadTimeout?(headStartedAt, rendered.body.readableBytes)
            BoundedClose.close(context.channel, after: context.writeAndFlush(NIOAny(bytes)), within: idleTimeout)
        case .busy:
            break
        }
    }
}
