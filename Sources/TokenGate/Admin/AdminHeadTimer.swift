import NIOCore
import NIOHTTP1

/// Guards an admin connection against clients that trickle a request head (slowloris)
/// and against keep-alive connections that sit idle forever.
///
/// The proxy listener's connections have this built in (`RequestHeadDecoder` and the one
/// timer `ProxyHandler` owns). The admin listener keeps NIO's server pipeline, whose
/// decoder tells its response encoder each request's method through an API NIO keeps
/// internal, so this small handler sits in front of it instead: the admin listener serves
/// probes and operators, not traffic, and the cost of one more handler does not matter
/// there. The first bytes of a new request switch the connection from the idle timeout to
/// the (shorter) header-read timeout, and `AdminHandler` tells it when a whole head has
/// arrived and when the connection waits for the next request. On expiry it acts alone:
/// an idle connection is closed; a half-read head gets a 408 written below the HTTP codec
/// and the connection is closed.
final class AdminHeadTimer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Phase { case idle, readingHead, busy }

    private let headTimeout: TimeAmount
    /// How long a keep-alive connection may idle; also how long a closing answer's last
    /// bytes may wait for a client that does not read them.
    let idleTimeout: TimeAmount
    private var phase = Phase.readingHead
    private var timer: LazyDeadlineTimer?
    private var context: ChannelHandlerContext?

    init(headTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let timer = LazyDeadlineTimer(eventLoop: context.eventLoop)
        timer.onExpiry = { [weak self] in self?.expired() }
        self.timer = timer
        // A new connection is expected to send its first request promptly.
        timer.set(context.eventLoop.now + headTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if phase == .idle {
            phase = .readingHead
            timer?.set(context.eventLoop.now + headTimeout)
        }
        context.fireChannelRead(data)
    }

    /// A whole request head arrived: no deadline until the answer is written.
    func headReceived() {
        phase = .busy
        timer?.clear()
    }

    /// The answer is written and the connection stays open for another request.
    func awaitingRequest() {
        guard let context else { return }
        phase = .idle
        timer?.set(context.eventLoop.now + idleTimeout)
    }

    private func expired() {
        guard let context else { return }
        switch phase {
        case .idle:
            context.close(promise: nil)
        case .readingHead:
            phase = .busy
            guard let answer = RequestTimeoutAnswer.bytes(allocator: context.channel.allocator) else {
                context.close(promise: nil)
                return
            }
            BoundedClose.close(context.channel, after: context.writeAndFlush(NIOAny(answer.bytes)), within: idleTimeout)
        case .busy:
            break
        }
    }
}
