import NIOCore
import NIOHTTP1

/// NIO's llhttp request decoder, noting each read for its `Observer` (the connection's
/// `ProxyHandler`, which owns the connection's one timer). It replaces a handler of its own
/// in front of the decoder that every read passed through: the observer is a generic
/// parameter, so the call is direct, and the pipeline has one context fewer per
/// connection. The admin listener's decoder comes from NIO's server pipeline set-up and is
/// watched by `AdminHeadTimer` instead.
///
/// The llhttp decoder itself (about 1.1 KB: its parser, and a field list reserved for 16
/// fields that it allocates again after every head) is the observer's, made on the first
/// bytes of a request: a keep-alive connection that idles between requests lets it go,
/// as nginx frees its header buffer then, so an idle connection holds none.
struct RequestHeadDecoder<Observer: RequestHeadObserver>: ByteToMessageDecoder {
    typealias InboundOut = HTTPServerRequestPart

    let observer: Observer
    let leftOverBytesStrategy: RemoveAfterUpgradeStrategy
    let limits: NIOHTTPDecoderLimitConfiguration

    init(observer: Observer, leftOverBytesStrategy: RemoveAfterUpgradeStrategy = .dropBytes,
         limits: NIOHTTPDecoderLimitConfiguration = NIOHTTPDecoderLimitConfiguration()) {
        self.observer = observer
        self.leftOverBytesStrategy = leftOverBytesStrategy
        self.limits = limits
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        observer.requestBytesArrived()
        let endsOnEmptyLine = Self.endsOnEmptyLine(buffer)
        observer.decodingBegins()
        do {
            let state = try decoder(context).decode(context: context, buffer: &buffer)
            observer.requestBytesDecoded(endedOnEmptyLine: endsOnEmptyLine && buffer.readableBytes == 0)
            return state
        } catch {
            observer.requestBytesDecoded(endedOnEmptyLine: false)
            throw error
        }
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A rested decoder stopped at the end of a message: with no bytes since, there is
        // nothing to finish.
        guard observer.requestDecoder != nil || buffer.readableBytes > 0 else { return .needMoreData }
        observer.decodingBegins()
        defer { observer.requestBytesDecoded(endedOnEmptyLine: false) }
        return try decoder(context).decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }

    func decoderAdded(context: ChannelHandlerContext) {}

    func decoderRemoved(context: ChannelHandlerContext) {
        observer.releaseRequestDecoder(context: context)
    }

    /// The connection's decoder, made (and started) if it rests.
    private func decoder(_ context: ChannelHandlerContext) -> HTTPRequestDecoder {
        if let decoder = observer.requestDecoder { return decoder }
        let decoder = HTTPRequestDecoder(leftOverBytesStrategy: leftOverBytesStrategy, limitConfiguration: limits)
        decoder.decoderAdded(context: context)
        observer.requestDecoder = decoder
        return decoder
    }

    /// Whether `buffer`'s bytes end with an empty line (LF, optional CR, LF): llhttp
    /// accepts bare LF line ends, so every way a head can end counts.
    static func endsOnEmptyLine(_ buffer: ByteBuffer) -> Bool {
        let end = buffer.writerIndex
        guard end - buffer.readerIndex >= 2, buffer.getInteger(at: end - 1, as: UInt8.self) == UInt8(ascii: "\n") else { return false }
        switch buffer.getInteger(at: end - 2, as: UInt8.self) {
        case UInt8(ascii: "\n"): return true
        case UInt8(ascii: "\r"):
            return end - buffer.readerIndex >= 3 && buffer.getInteger(at: end - 3, as: UInt8.self) == UInt8(ascii: "\n")
        default: return false
        }
    }
}
