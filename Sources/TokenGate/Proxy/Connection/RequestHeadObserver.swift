import NIOCore
import NIOHTTP1

/// The connection's side of `RequestHeadDecoder`: told when bytes of a client's request
/// stream arrive, before they are decoded (the first bytes of a new head start the head
/// timeout, slowloris, in place of the keep-alive one), and the keeper of the connection's
/// llhttp decoder, which it lets go while the connection idles between requests.
protocol RequestHeadObserver: AnyObject {
    /// Bytes arrived, ahead of the decoder.
    func requestBytesArrived()
    /// The connection's decoder; nil until the first bytes and while it rests.
    var requestDecoder: HTTPRequestDecoder? { get set }
    /// The decoder is about to be fed (bytes, or the end of the stream). Until
    /// `requestBytesDecoded`, parts arrive from inside llhttp, and the decoder must not
    /// be let go.
    func decodingBegins()
    /// A feed was decoded (or failed). `endedOnEmptyLine`: the bytes fed, all of them
    /// consumed, ended with an empty line (where every head, and every chunked body, ends).
    func requestBytesDecoded(endedOnEmptyLine: Bool)
}

extension RequestHeadObserver {
    /// Lets the decoder go. Its parser keeps itself retained while started, so it is
    /// stopped first (NIO's `decoderRemoved`, which does not use the context).
    func releaseRequestDecoder(context: ChannelHandlerContext) {
        guard let decoder = requestDecoder else { return }
        requestDecoder = nil
        decoder.decoderRemoved(context: context)
    }
}
