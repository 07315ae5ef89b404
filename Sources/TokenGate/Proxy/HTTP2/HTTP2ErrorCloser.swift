import NIOCore

/// The last handler of an HTTP/2 client connection: once NIO's HTTP/2 handler has met a
/// connection error (a flood, a rapid reset, a protocol violation) and written its GOAWAY
/// (as `HTTP2GoAwayObserver` saw), the connection closes. A stream's error (NIO reports it
/// the same way, after its RST_STREAM) leaves the connection and its other streams alone. Our side shuts first and what the client still sends is read
/// and dropped for a moment, so the GOAWAY reaches a client that is still writing rather
/// than being lost to a TCP reset (nginx's lingering close); then it closes regardless.
final class HTTP2ErrorCloser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    /// How long a failed connection's client may go on writing into the void.
    static let linger = TimeAmount.seconds(1)

    private var closing = false
    private let observer: HTTP2GoAwayObserver

    init(observer: HTTP2GoAwayObserver) {
        self.observer = observer
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing, observer.failedWithGoAway else { return }
        closing = true
        let channel = context.channel
        context.flush()
        channel.close(mode: .output, promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.linger) {
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Frames after the error are the attacker's: dropped.
        if !closing { context.fireChannelRead(data) }
    }
}
