import NIOCore
import NIOHTTP1

/// Serialises the requests the gateway sends an upstream, in place of NIO's
/// `HTTPRequestEncoder` and its header validator. The planner sets the framing headers; a
/// head that fails `HTTPHeadSerializer`'s checks is never written, and the connection's
/// `UpstreamHandler` hears of it as an error (the client gets a 502).
final class UpstreamRequestEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = IOData

    private var writer = OutboundMessageWriter()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head):
            writer.writeHead(HTTPHeadSerializer.request(head, allocator: context.channel.allocator), setsFraming: true, context: context, promise: promise)
        case .body(let part):
            writer.writeBody(part, context: context, promise: promise)
        case .end(let trailers):
            writer.writeEnd(trailers, context: context, promise: promise)
        }
    }
}
