import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// An upstream that answers every request head with bytes the test wrote, verbatim: for
/// answers a well-behaved server would not give (`Transfer-Encoding: gzip, chunked`, a
/// TRACE echo). It records each request head it received.
final class ScriptedUpstream: Sendable {
    private let channel: any Channel
    private let heads: NIOLockedValueBox<[String]>

    var port: Int { channel.localAddress?.port ?? 0 }
    /// Request heads received, as text.
    var received: [String] { heads.withLockedValue { $0 } }

    /// `answer` gets the request head's text and returns the raw response bytes.
    static func start(_ answer: @escaping @Sendable (String) -> String) async throws -> ScriptedUpstream {
        let heads = NIOLockedValueBox<[String]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Responder(answer: answer, heads: heads))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedUpstream(channel: channel, heads: heads)
    }

    private init(channel: any Channel, heads: NIOLockedValueBox<[String]>) {
        self.channel = channel
        self.heads = heads
    }

    func stop() async {
        try? await channel.close()
    }

    private final class Responder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answer: @Sendable (String) -> String
        let heads: NIOLockedValueBox<[String]>
        var pending = ""

        init(answer: @escaping @Sendable (String) -> String, heads: NIOLockedValueBox<[String]>) {
            self.answer = answer
            self.heads = heads
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            pending += buffer.readString(length: buffer.readableBytes) ?? ""
            while let end = pending.range(of: "\r\n\r\n") {
                let head = String(pending[..<end.lowerBound])
                pending = String(pending[end.upperBound...])
                heads.withLockedValue { $0.append(head) }
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: answer(head))), promise: nil)
            }
        }
    }
}
