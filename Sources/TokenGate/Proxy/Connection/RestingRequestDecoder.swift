import NIOCore
import NIOHTTP1

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
