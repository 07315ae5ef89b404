import NIOCore

/// Remembers the last raw read of an upstream connection, as the response decoder takes
/// it, so the `UpstreamHandler` can tell whether a response's last byte was the read's last.
///
/// NIO's llhttp decoder takes every byte of a read, and bytes behind a complete response
/// that do not yet form a head (`HTTP/1.1 200 OK\r\nX-A: 1`) fire no event: pooled, the
/// connection would hand them, completed by the next response, to whoever borrows it
/// next. So a connection is kept only when its response ended exactly where the read did:
/// at the end of its last body part, or with the empty line that ends a head or a chunked
/// body (a stray head that far would have been delivered and refused). Anything else closes
/// it, as nginx does ("upstream sent more data than specified"). Shared by the
/// connection's `UpstreamResponseDecoder` (which records) and `UpstreamHandler` (which
/// reads); loop-bound like both.
final class UpstreamReadTail {
    /// Raw reads so far (wraps; only compared for equality).
    private(set) var reads: UInt = 0
    /// Where the latest read's bytes end in memory, and whether they end with CRLF CRLF.
    private(set) var lastEnd: UInt = 0
    private(set) var lastEndsWithEmptyLine = false

    /// The decoder is about to parse `buffer` (a whole read: llhttp leaves nothing behind).
    func record(_ buffer: ByteBuffer) {
        reads &+= 1
        lastEnd = buffer.readableEndAddress
        let count = buffer.readableBytes
        lastEndsWithEmptyLine = count >= 4
            && buffer.getInteger(at: buffer.readerIndex + count - 4, as: UInt32.self) == 0x0D0A_0D0A
    }
}

extension ByteBuffer {
    /// The address just past the readable bytes (0 when there are none): a part the
    /// decoder delivered is a view into the read it came from, so equal ends mean the part
    /// was that read's last bytes.
    var readableEndAddress: UInt {
        withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return 0 }
            return UInt(bitPattern: base + bytes.count)
        }
    }
}
