#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// One answered request, as the access log and the metrics see it.
struct RequestRecord {
    var listener: String
    /// "" when no route matched.
    var route: String
    var method: String
    /// The client's request target as received; redacted when written.
    var target: String
    var status: Int
    var bytesIn: Int
    var bytesOut: Int
    var duration: TimeAmount
    var upstreamDuration: TimeAmount?
    var clientAddress: String
    var requestID: String?
    var subject: String?
    var clientID: String?
    var credential: String?
    /// The gateway's error code when the gateway answered (or cut the response short).
    var error: String?
    /// The client's HTTP version (an HTTP/2 stream's is 2.0).
    var version: HTTPVersion = .http1_1

    /// `HTTP/1.1`, `HTTP/1.0` or `HTTP/2`, as the access log names the protocol.
    var protocolName: StaticString {
        if version.major == 2 { return "HTTP/2" }
        return version.major == 1 && version.minor == 0 ? "HTTP/1.0" : "HTTP/1.1"
    }
}
