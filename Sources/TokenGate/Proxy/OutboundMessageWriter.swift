import NIOCore
import NIOHTTP1

/// What the gateway's two encoders (`UpstreamRequestEncoder`, `ClientResponseEncoder`)
/// share once a head is serialised: body parts chunk-framed when the head said `chunked`
/// and passed as they are otherwise, the message end, and the refusal of a malformed head
/// (nothing more goes out, and the connection's handler hears of it as an error). A chunk
/// is three writes (size line, the bytes, CRLF): a body is never copied to be framed.
struct OutboundMessageWriter {
    private var chunked = false
    private var refused = false

    /// Writes a serialised head, or refuses it.
    mutating func writeHead(_ encoded: Result<HTTPHeadSerializer.Encoded, HTTPHeadSerializer.InvalidHead>, setsFraming: Bool,
                            context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard !refusedWrite(promise) else { return }
        switch encoded {
        case .success(let encoded):
            if setsFraming { chunked = encoded.chunked }
            context.write(NIOAny(IOData.byteBuffer(encoded.buffer)), promise: promise)
        case .failure(let invalid):
            refuse(invalid, context: context, promise: promise)
        }
    }

    /// Writes one body part; an empty part is not framed (it would end the body).
    func writeBody(_ data: IOData, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard !refusedWrite(promise) else { return }
        let length = data.readableBytes
        guard chunked, length > 0 else {
            context.write(NIOAny(data), promise: promise)
            return
        }
        var sizeLine = context.channel.allocator.buffer(capacity: 20)
        Self.writeHex(length, into: &sizeLine)
        sizeLine.writeStaticString("\r\n")
        context.write(NIOAny(IOData.byteBuffer(sizeLine)), promise: nil)
        context.write(NIOAny(data), promise: nil)
        // The part's promise goes on its last write: writes complete in order.
        context.write(NIOAny(IOData.byteBuffer(context.channel.allocator.buffer(staticString: "\r\n"))), promise: promise)
    }

    /// Ends the message: the last chunk and trailers when chunked; otherwise nothing goes
    /// out but an empty write, so that a promise completes in order.
    mutating func writeEnd(_ trailers: HTTPHeaders?, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard !refusedWrite(promise) else { return }
        defer { chunked = false }
        if chunked {
            switch HTTPHeadSerializer.lastChunk(trailers: trailers, allocator: context.channel.allocator) {
            case .success(let buffer): context.write(NIOAny(IOData.byteBuffer(buffer)), promise: promise)
            case .failure(let invalid): refuse(invalid, context: context, promise: promise)
            }
        } else if let promise {
            context.write(NIOAny(IOData.byteBuffer(context.channel.allocator.buffer(capacity: 0))), promise: promise)
        }
    }

    private func refusedWrite(_ promise: EventLoopPromise<Void>?) -> Bool {
        if refused { promise?.fail(ChannelError.ioOnClosedChannel) }
        return refused
    }

    private mutating func refuse(_ invalid: HTTPHeadSerializer.InvalidHead, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        refused = true
        promise?.fail(invalid)
        context.fireErrorCaught(invalid)
    }

    /// `value` in lower-case hex, without leading zeros.
    static func writeHex(_ value: Int, into buffer: inout ByteBuffer) {
        var shift = max(4, (Int.bitWidth - value.leadingZeroBitCount + 3) / 4 * 4)
        while shift > 0 {
            shift -= 4
            let digit = UInt8(truncatingIfNeeded: (value >> shift) & 0xF)
            buffer.writeInteger(digit < 10 ? UInt8(ascii: "0") &+ digit : UInt8(ascii: "a") &+ digit &- 10)
        }
    }
}
