import NIOCore
import NIOHTTP1

/// NIO's llhttp response decoder, minus its write observation. Wrapped in a
/// `ByteToMessageHandler` on its own, `HTTPResponseDecoder` makes the handler an outbound
/// one that unwraps every request part written past it to learn the request's method (a
/// response to `HEAD` has no body). The gateway writes requests as bytes, so the
/// `UpstreamHandler` tells the decoder each method itself (`requestSent`) and writes skip
/// this handler altogether.
struct UpstreamResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart

    let decoder: HTTPResponseDecoder
    /// Where each read ends, for the handler's check that nothing followed a response.
    let tail: UpstreamReadTail

    /// `leftOverBytesStrategy` as NIO's: bytes behind a `101` go on when the decoder leaves.
    init(leftOverBytesStrategy: RemoveAfterUpgradeStrategy, tail: UpstreamReadTail = UpstreamReadTail()) {
        decoder = HTTPResponseDecoder(leftOverBytesStrategy: leftOverBytesStrategy)
        self.tail = tail
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        tail.record(buffer)
        return try decoder.decode(context: context, buffer: &buffer)
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decoder.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }

    func decoderAdded(context: ChannelHandlerContext) {
        decoder.decoderAdded(context: context)
    }

    func decoderRemoved(context: ChannelHandlerContext) {
        decoder.decoderRemoved(context: context)
    }
}
