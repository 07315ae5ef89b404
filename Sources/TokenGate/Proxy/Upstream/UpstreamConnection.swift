import NIOCore

/// One keep-alive connection to an upstream, or one stream of an HTTP/2 connection to it.
final class UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamHandler
    let key: UpstreamEndpoint.Key
    /// True once it has served an exchange and come back from the pool: such a connection
    /// may have been closed by the upstream in the meantime. Set by `UpstreamPool` alone.
    var isReused = false
    /// When it last came back to the pool. Set by `UpstreamPool` alone.
    var idleSince = NIODeadline.now()

    /// The channel is one stream of an `HTTP2UpstreamConnection`: it carries one exchange
    /// and is never pooled itself.
    let isHTTP2Stream: Bool

    init(channel: any Channel, handler: UpstreamHandler, key: UpstreamEndpoint.Key, isHTTP2Stream: Bool = false) {
        self.channel = channel
        self.handler = handler
        self.key = key
        self.isHTTP2Stream = isHTTP2Stream
    }

    var isWritable: Bool { channel.isWritable }

    func close() {
        handler.delegate = nil
        channel.close(promise: nil)
    }
}
