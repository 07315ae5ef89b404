import NIOCore
import NIOHTTP1

/// Told when bytes of a client's request stream arrive, before they are decoded: the
/// first bytes of a new head start the head timeout (slowloris) in place of the
/// keep-alive one. It is also handed the connection's decoder, to let it rest while the
/// connection idles.
protocol RequestHeadObserver: AnyObject {
    func requestBytesArrived()
    func decoderAttached(_ decoder: RestingRequestDecoder)
}

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

/// A connection's HTTP request decoder that can rest: while the connection idles between
/// requests, the decoder (its llhttp parser, and the field list it keeps room for 16
/// fields in, about 1 KB together) is let go, and made again when the next request's
/// first bytes arrive. Idle keep-alive connections are most of the connections a busy
/// gateway holds, and this is most of what each holds beyond the socket itself (nginx
/// likewise frees a keep-alive connection's request buffers while it waits).
///
/// The connection rests its decoder only when its timer fires while it waits for a request
/// with no byte of one read (`ConnectionStateMachine`'s `.restDecoder`): never between the
/// requests of a busy connection, so a keep-alive client sending request after request
/// never pays for a new decoder. Loop-bound, like the handlers that hold it.
final class RestingRequestDecoder {
    private let leftOverBytesStrategy: RemoveAfterUpgradeStrategy
    private let limits: NIOHTTPDecoderLimitConfiguration
    private var decoder: HTTPRequestDecoder?
    /// Between `added` and `removed`: a decoder made meanwhile must be started.
    private var inPipeline = false

    init(leftOverBytesStrategy: RemoveAfterUpgradeStrategy, limits: NIOHTTPDecoderLimitConfiguration) {
        self.leftOverBytesStrategy = leftOverBytesStrategy
        self.limits = limits
        self.decoder = HTTPRequestDecoder(leftOverBytesStrategy: leftOverBytesStrategy, limitConfiguration: limits)
    }

    /// Whether the decoder is resting now.
    var isResting: Bool { decoder == nil }

    /// The decoder, made (and started) again if it was resting.
    func awake(context: ChannelHandlerContext) -> HTTPRequestDecoder {
        if let decoder { return decoder }
        let fresh = HTTPRequestDecoder(leftOverBytesStrategy: leftOverBytesStrategy, limitConfiguration: limits)
        if inPipeline { fresh.decoderAdded(context: context) }
        decoder = fresh
        return fresh
    }

    /// The decoder if it is awake, or woken when there are bytes for it.
    func awakeOrNil(context: ChannelHandlerContext, hasBytes: Bool) -> HTTPRequestDecoder? {
        if let decoder { return decoder }
        return hasBytes ? awake(context: context) : nil
    }

    /// Lets the decoder go. Only between messages with no byte held (the caller, the state
    /// machine, knows): a decoder made later starts where this one stood.
    func rest(context: ChannelHandlerContext) {
        guard let decoder else { return }
        // Stops the parser and breaks its link back to the decoder; NIO's decoder does not
        // use the context it is given here.
        decoder.decoderRemoved(context: context)
        self.decoder = nil
    }

    func added(context: ChannelHandlerContext) {
        inPipeline = true
        decoder?.decoderAdded(context: context)
    }

    func removed(context: ChannelHandlerContext) {
        inPipeline = false
        decoder?.decoderRemoved(context: context)
    }
}
