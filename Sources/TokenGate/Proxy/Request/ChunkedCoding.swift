import NIOCore

/// The chunked transfer coding (RFC 9112 §7.1) for bodies the gateway frames itself: a
/// client's chunked request body on its way upstream, and a response whose length the
/// client could not otherwise learn.
enum ChunkedCoding {
    /// The last chunk, with no trailer fields.
    static let lastChunk: StaticString = "0\r\n\r\n"

    /// Parts up to this size are copied into one framed buffer (one write); larger ones go
    /// out as size line, the part itself, and CRLF, so a large body is never copied.
    static let copyLimit = 8 * 1024

    /// Hands `write` the buffers that carry `part` as one chunk. An empty part is skipped:
    /// it would read as the last chunk.
    static func frame(_ part: ByteBuffer, allocator: ByteBufferAllocator, write: (ByteBuffer) -> Void) {
        let length = part.readableBytes
        guard length > 0 else { return }
        if length <= copyLimit {
            var chunk = allocator.buffer(capacity: length + 12)
            writeSizeLine(length, into: &chunk)
            var body = part
            chunk.writeBuffer(&body)
            chunk.writeStaticString("\r\n")
            write(chunk)
        } else {
            var sizeLine = allocator.buffer(capacity: 20)
            writeSizeLine(length, into: &sizeLine)
            write(sizeLine)
            write(part)
            write(allocator.buffer(staticString: "\r\n"))
        }
    }

    /// `length` in lower-case hex, then CRLF.
    static func writeSizeLine(_ length: Int, into buffer: inout ByteBuffer) {
        var shift = max(4, (Int.bitWidth - length.leadingZeroBitCount + 3) / 4 * 4)
        while shift > 0 {
            shift -= 4
            let digit = UInt8(truncatingIfNeeded: (length >> shift) & 0xF)
            buffer.writeInteger(digit < 10 ? UInt8(ascii: "0") &+ digit : UInt8(ascii: "a") &+ digit &- 10)
        }
        buffer.writeStaticString("\r\n")
    }
}
