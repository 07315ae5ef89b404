import NIOCore
import NIOHTTP1

/// Receives one upstream response, on the event loop that both connections share.
/// The proxy handler of the client connection implements it; calls are direct, with no
/// thread hop and no promise per event.
protocol UpstreamResponseDelegate: AnyObject {
    func upstreamResponseHead(_ head: HTTPResponseHead)
    func upstreamResponseBody(_ buffer: ByteBuffer)
    /// `trailers`: the response's trailer fields (an HTTP/2 upstream's `grpc-status`, say).
    func upstreamResponseEnd(reusable: Bool, trailers: HTTPHeaders?)
    func upstreamReadComplete()
    func upstreamWritabilityChanged()
    func upstreamFailed(_ error: any Error)
    /// Whether the client side can take more bytes; the upstream reads only while it can.
    var clientIsWritable: Bool { get }
}
