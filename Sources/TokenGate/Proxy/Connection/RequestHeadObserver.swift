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
