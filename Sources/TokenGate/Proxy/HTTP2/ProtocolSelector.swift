import NIOCore
import NIOTLS

/// The first handler of a connection whose protocol is not known when it is accepted: it
/// waits for what decides it, then has the pipeline set up for that protocol and steps
/// aside, handing on any bytes it read.
///
/// - On a TLS listener, the handshake's ALPN result: `h2` is HTTP/2, anything else
///   (`http/1.1`, or no ALPN at all) HTTP/1.1.
/// - On a cleartext listener with `h2c`, the first bytes: HTTP/2's connection preface is
///   HTTP/2 with prior knowledge (RFC 9113 §3.3), anything else HTTP/1.1. A request line
///   differs from the preface at its first byte, so HTTP/1 clients wait for nothing.
///
/// A connection that decides nothing within `deadline` (the header read timeout: a
/// handshake or a preface that stalls) is closed, as a slow request head is.
final class ProtocolSelector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Decision { case http1, http2 }
    enum Mode { case alpn, preface }

    /// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let mode: Mode
    private let deadline: TimeAmount
    private let configure: (any Channel, Decision) throws -> Void
    private var buffered: ByteBuffer?
    private var timeout: Scheduled<Void>?
    private var decided = false

    init(mode: Mode, deadline: TimeAmount, configure: @escaping (any Channel, Decision) throws -> Void) {
        self.mode = mode
        self.deadline = deadline
        self.configure = configure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loop = context.eventLoop.assumeIsolated()
        timeout = loop.scheduleTask(in: deadline) { [weak self] in
            guard let self, !self.decided else { return }
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var held = buffered {
            held.writeBuffer(&bytes)
            buffered = held
        } else {
            buffered = bytes
        }
        guard mode == .preface, let held = buffered else { return }
        let seen = min(held.readableBytes, Self.preface.count)
        let matches = held.withUnsafeReadableBytes { raw in raw.prefix(seen).elementsEqual(Self.preface.prefix(seen)) }
        if !matches {
            decide(.http1, context: context)
        } else if seen == Self.preface.count {
            decide(.http2, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if mode == .alpn, let tls = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = tls {
            context.fireUserInboundEventTriggered(event)
            decide(negotiated == "h2" ? .http2 : .http1, context: context)
            return
        }
        if event is ChannelShouldQuiesceEvent, !decided {
            // Shutting down before the connection asked for anything.
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func decide(_ decision: Decision, context: ChannelHandlerContext) {
        guard !decided else { return }
        decided = true
        timeout?.cancel()
        do {
            try configure(context.channel, decision)
        } catch {
            context.close(promise: nil)
            return
        }
        if let held = buffered, held.readableBytes > 0 {
            buffered = nil
            context.fireChannelRead(wrapInboundOut(held))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
