import NIOCore
import NIOEmbedded
import Testing
@testable import TokenGate

@Suite("Writes in front of TLS are joined into records")
struct TLSWriteCoalescerTests {
    private func outbound(_ channel: EmbeddedChannel) throws -> [String] {
        var written: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            written.append(String(buffer: buffer))
        }
        return written
    }

    @Test("the small writes of one flush leave as one buffer, in order, and every promise completes")
    func joinsSmallWrites() throws {
        let channel = EmbeddedChannel(handler: TLSWriteCoalescer())
        defer { _ = try? channel.finish() }
        let promises = (0..<3).map { _ in channel.eventLoop.makePromise(of: Void.self) }
        channel.write(ByteBuffer(string: "head "), promise: promises[0])
        channel.write(ByteBuffer(string: "frame "), promise: nil)
        channel.write(ByteBuffer(string: "body"), promise: promises[1])
        #expect(try outbound(channel).isEmpty, "nothing leaves before the flush")
        channel.flush()
        #expect(try outbound(channel) == ["head frame body"])
        channel.writeAndFlush(ByteBuffer(string: "alone"), promise: promises[2])
        #expect(try outbound(channel) == ["alone"], "a write alone passes as it is")
        #expect(!promises.isEmpty)
        for promise in promises { #expect(Self.outcome(promise.futureResult) == .succeeded) }
    }

    @Test("a buffer would outgrow a record: what is pending leaves first; a write of a record or more passes alone")
    func recordSizedPieces() throws {
        let channel = EmbeddedChannel(handler: TLSWriteCoalescer())
        defer { _ = try? channel.finish() }
        let almost = String(repeating: "a", count: TLSWriteCoalescer.recordBytes - 10)
        let large = String(repeating: "b", count: TLSWriteCoalescer.recordBytes + 1)
        channel.write(ByteBuffer(string: "x"), promise: nil)
        channel.write(ByteBuffer(string: almost), promise: nil)
        channel.write(ByteBuffer(string: "0123456789"), promise: nil)
        channel.write(ByteBuffer(string: large), promise: nil)
        channel.write(ByteBuffer(string: "tail"), promise: nil)
        channel.flush()
        #expect(try outbound(channel) == ["x" + almost, "0123456789", large, "tail"])
    }

    @Test("a close passes what is pending on before it; writes pending when the handler goes fail")
    func closeAndRemoval() throws {
        let recorder = OutboundRecorder()
        let coalescer = TLSWriteCoalescer()
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.pipeline.syncOperations.addHandler(coalescer)
        channel.write(ByteBuffer(string: "last "), promise: nil)
        channel.write(ByteBuffer(string: "words"), promise: nil)
        channel.close(mode: .output, promise: nil)
        #expect(recorder.events == ["write last words", "close"])

        let lost = channel.eventLoop.makePromise(of: Void.self)
        channel.write(ByteBuffer(string: "never"), promise: lost)
        try channel.pipeline.syncOperations.removeHandler(coalescer).wait()
        #expect(Self.outcome(lost.futureResult) == .failed)
        #expect(recorder.events == ["write last words", "close"])
    }

    enum Outcome { case pending, succeeded, failed }

    /// How `future` has ended so far (the embedded loop runs its callbacks at once).
    static func outcome(_ future: EventLoopFuture<Void>) -> Outcome {
        var outcome = Outcome.pending
        future.assumeIsolated().whenComplete { result in
            switch result {
            case .success: outcome = .succeeded
            case .failure: outcome = .failed
            }
        }
        return outcome
    }
}

/// Notes the writes and closes that pass it, flushed or not.
private final class OutboundRecorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var events: [String] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        events.append("write " + String(buffer: unwrapOutboundIn(data)))
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        events.append("close")
        context.close(mode: mode, promise: promise)
    }
}
