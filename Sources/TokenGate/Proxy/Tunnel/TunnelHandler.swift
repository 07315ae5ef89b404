import NIOCore

/// One side of a byte tunnel after a protocol switch (WebSocket): what one channel reads,
/// its partner writes. Both channels live on the same event loop and call each other
/// directly. Backpressure: a side reads only while its partner can take more bytes.
final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Side { case client, upstream }

    let session: TunnelSession
    let side: Side
    var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var readPending = false

    init(session: TunnelSession, side: Side) {
        self.session = session
        self.side = side
        switch side {
        case .client: session.clientSide = self
        case .upstream: session.upstreamSide = self
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !context.channel.isActive { session.close() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        session.moved(buffer.readableBytes, from: side)
        partner?.write(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.close()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        session.close()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.isWritable ?? false {
            context.read()
        } else {
            readPending = true
        }
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// The partner has room again (or the tunnel just started): read if a read waits.
    func resumeReading() {
        guard let context else { return }
        guard partner?.isWritable ?? false else {
            readPending = true
            return
        }
        readPending = false
        context.read()
    }

    private func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    /// Ends this side once what was written to it is on the wire, or after `limit` if
    /// its peer does not read it by then.
    func close(within limit: TimeAmount) {
        guard let context else { return }
        BoundedClose.close(context.channel, after: context.writeAndFlush(wrapOutboundOut(ByteBuffer())), within: limit)
    }
}
