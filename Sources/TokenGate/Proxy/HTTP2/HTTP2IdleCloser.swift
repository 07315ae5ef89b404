import NIOCore
import NIOHTTP2

/// The backstop of an HTTP/2 client connection's idle timeout. NIO's connection manager
/// answers an idle connection with GOAWAY and a PING, and closes once the client has
/// acknowledged the PING, which a silent client never does: without this, a client that
/// sent its preface and then nothing would hold its connection slot for ever. Once no
/// stream has been open for twice the idle timeout, the connection closes regardless.
final class HTTP2IdleCloser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    private let limit: TimeAmount
    private var openStreams = 0
    /// Points at "no stream since then, plus the limit" while no stream is open. Lazy: a
    /// stream that opens and closes costs two field writes, not a task scheduled and
    /// cancelled (about 3,000 instructions a stream).
    private var timer: LazyDeadlineTimer?

    /// The connection's stream timers, cancelled when the connection goes.
    private let streamTimers: DeadlineTimerPool

    /// `idleTimeout`: the listener's; the connection closes after twice it without a stream.
    init(idleTimeout: TimeAmount, streamTimers: DeadlineTimerPool) {
        self.limit = idleTimeout + idleTimeout
        self.streamTimers = streamTimers
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let timer = LazyDeadlineTimer(eventLoop: context.eventLoop)
        let channel = context.channel
        timer.onExpiry = { channel.close(promise: nil) }
        self.timer = timer
        timer.set(context.eventLoop.now + limit)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        streamTimers.cancelAll()
    }

    /// A stream opened (told by `Streams`, NIO's stream delegate).
    func streamOpened() {
        openStreams += 1
        timer?.clear()
    }

    /// A stream closed.
    func streamClosed() {
        openStreams = max(0, openStreams - 1)
        if openStreams == 0, let timer { timer.set(timer.now + limit) }
    }

    /// NIO's stream delegate for the connection: the connection manager's, which this
    /// closer also hears through (NIO takes one delegate).
    struct Streams: NIOHTTP2StreamDelegate {
        let manager: NIOHTTP2ServerConnectionManagementHandler.HTTP2StreamDelegate
        let closer: NIOLoopBound<HTTP2IdleCloser>

        func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
            manager.streamCreated(id, channel: channel)
            closer.value.streamOpened()
        }

        func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
            manager.streamClosed(id, channel: channel)
            closer.value.streamClosed()
        }
    }
}
