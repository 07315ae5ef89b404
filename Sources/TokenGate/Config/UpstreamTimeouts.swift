import NIOCore

/// `routes[i].timeouts`.
struct UpstreamTimeouts: Sendable, Equatable {
    /// `connect_seconds`: default 5.
    var connect: Duration
    /// `response_header_seconds`: from the end of the request to the response head. Default 30.
    var responseHeader: Duration
    /// `idle_seconds`: longest silence while a body streams either way. Default 60.
    var idle: Duration

    static let defaults = UpstreamTimeouts(connect: .seconds(5), responseHeader: .seconds(30), idle: .seconds(60))
}
