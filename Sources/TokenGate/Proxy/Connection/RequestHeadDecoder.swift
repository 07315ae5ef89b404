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

    let decoder: HTTPRequestDecoder
    let observer: Observer

    init(observer: Observer, leftOverBytesStrategy: RemoveAfterUpgradeStrategy = .dropBytes,
         limits: NIOHTTPDecoderLimitConfiguration = NIOHTTPDecoderLimitConfiguration()) {
        decoder = HTTPRequestDecoder(leftOverBytesStrategy: leftOverBytesStrategy, limitConfiguration: limits)
        self.observer = observer
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        observer.requestBytesArrived()
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
