import NIOCore
import NIOHTTP2

/// Sits behind an upstream connection's `NIOHTTP2Handler` and tells the connection when the
/// upstream sends GOAWAY or the connection meets an error: it takes no new stream then.
final class HTTP2UpstreamGoAwayWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    var onGoAway: (() -> Void)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { onGoAway?() }
        context.fireChannelRead(data)
    }

    /// An error on the connection (NIO's, or a stream's): no new stream goes here; the
    /// ones open finish or fail, then it closes.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        onGoAway?()
    }
}
