#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore

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
}
