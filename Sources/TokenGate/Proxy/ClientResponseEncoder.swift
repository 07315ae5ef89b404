import NIOCore
import NIOHTTP1

/// Serialises the responses a client connection receives (the upstream's, re-headed, and
/// the gateway's own answers), in place of NIO's `HTTPResponseEncoder` and its header
/// validator. Framing headers are the writer's business, as with NIO's encoder when
/// `automaticallySetFramingHeaders` is off; a head that fails `HTTPHeadSerializer`'s checks
/// is never written, and the `ProxyHandler` hears of it as an error.
final class ClientResponseEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = IOData

    private var writer = OutboundMessageWriter()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head):
            // An interim response (100 Continue) says nothing about the final one's framing.
            let final = head.status.code >= 200 || head.status == .switchingProtocols
            writer.writeHead(HTTPHeadSerializer.response(head, allocator: context.channel.allocator), setsFraming: final, context: context, promise: promise)
        case .body(let part):
            writer.writeBody(part, context: context, promise: promise)
        case .end(let trailers):
            writer.writeEnd(trailers, context: context, promise: promise)
        }
    }
}
