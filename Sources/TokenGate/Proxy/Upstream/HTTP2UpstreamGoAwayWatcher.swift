import NIOCore
import NIOHTTP2

/// Sits behind an upstream connection's `NIOHTTP2Handler` and tells the connection when the
/// upstream sends GOAWAY.
final class HTTP2UpstreamGoAwayWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    var onGoAway: (() -> Void)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { onGoAway?() }
        context.fireChannelRead(data)
    }
}
