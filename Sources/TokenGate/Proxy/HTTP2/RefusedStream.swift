import NIOCore
import NIOHTTP2

/// The one handler of an HTTP/2 stream the listener's connection limit refused: it resets
/// the stream with REFUSED_STREAM as soon as the stream is active (the request was not
/// processed, so the client may send it again, RFC 9113 §8.7) and drops what the client
/// sends on it meanwhile.
final class RefusedStream: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private var refused = false

    private func refuse(_ context: ChannelHandlerContext) {
        guard !refused else { return }
        refused = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.rstStream(.refusedStream))).assumeIsolated().whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
