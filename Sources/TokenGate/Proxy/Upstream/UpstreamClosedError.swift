import NIOCore
import NIOHTTP1

/// The connection closed before the response was complete.
struct UpstreamClosedError: Error, CustomStringConvertible {
    var description: String { "upstream closed the connection" }
}
