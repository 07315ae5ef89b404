import NIOCore
import NIOHTTP1

/// A planned upstream request head, already bytes: the request line and every field the
/// planner chose, without the empty line. What is added per attempt (the injected
/// credential and the caller's identity fields) is written after it when the request is
/// sent, so a retry with a fresh token re-sends these bytes without rebuilding them.
struct UpstreamRequestHead {
    let method: HTTPMethod
    let bytes: ByteBuffer
    /// The body goes upstream in chunks (the client sent it chunked).
    let chunked: Bool
}
