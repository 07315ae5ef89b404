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
    private var pending: Scheduled<Void>?

    /// `idleTimeout`: the listener's; the connection closes after twice it without a stream.
    init(idleTimeout: TimeAmount) {
        self.limit = idleTimeout + idleTimeout
    }

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        arm()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pending?.cancel()
        pending = nil
        self.context = nil
    }

    /// A stream opened (told by `Streams`, NIO's stream delegate).
    func streamOpened() {
        openStreams += 1
        pending?.cancel()
        pending = nil
    }

    /// A stream closed.
    func streamClosed() {
        openStreams = max(0, openStreams - 1)
        if openStreams == 0 { arm() }
    }

    private func arm() {
        guard let context else { return }
        pending?.cancel()
        let channel = context.channel
        pending = context.eventLoop.assumeIsolated().scheduleTask(in: limit) { [weak self] in
            guard let self, self.openStreams == 0 else { return }
            channel.close(promise: nil)
        }
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
