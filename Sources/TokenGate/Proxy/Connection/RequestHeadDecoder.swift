import NIOCore
import NIOHTTP1

/// NIO's llhttp request decoder, noting each read for its `Observer` (the connection's
/// `ProxyHandler`, which owns the connection's one timer). It replaces a handler of its own
/// in front of the decoder that every read passed through: the observer is a generic
/// parameter, so the call is direct, and the pipeline has one context fewer per
/// connection. The admin listener's decoder comes from NIO's server pipeline set-up and is
/// watched by `AdminHeadTimer` instead.
struct RequestHeadDecoder<Observer: RequestHeadObserver>: ByteToMessageDecoder {
    typealias InboundOut = HTTPServerRequestPart

    let decoder: RestingRequestDecoder
    let observer: Observer

    init(observer: Observer, leftOverBytesStrategy: RemoveAfterUpgradeStrategy = .dropBytes,
         limits: NIOHTTPDecoderLimitConfiguration = NIOHTTPDecoderLimitConfiguration()) {
        decoder = RestingRequestDecoder(leftOverBytesStrategy: leftOverBytesStrategy, limits: limits)
        self.observer = observer
        observer.decoderAttached(decoder)
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        observer.requestBytesArrived()
        return try decoder.awake(context: context).decode(context: context, buffer: &buffer)
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A resting decoder is between messages with nothing held: the end of the stream
        // there means nothing to it, so it is not woken for it.
        guard let awake = decoder.awakeOrNil(context: context, hasBytes: buffer.readableBytes > 0) else { return .needMoreData }
        return try awake.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }

    func decoderAdded(context: ChannelHandlerContext) {
        decoder.added(context: context)
    }

    func decoderRemoved(context: ChannelHandlerContext) {
        decoder.removed(context: context)
    }
}
