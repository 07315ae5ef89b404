import NIOCore
import NIOHTTP1

/// Told when bytes of a client's request stream arrive, before they are decoded: the
/// first bytes of a new head start the head timeout (slowloris) in place of the
/// keep-alive one.
protocol RequestHeadObserver: AnyObject {
    func requestBytesArrived()
}
