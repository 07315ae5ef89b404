import NIOCore

/// Sits between the transport and NIO's HTTP/2 handler of a client connection and reads
/// the frame headers of what NIO writes, to see a GOAWAY that carries an error: NIO then
/// has failed the whole connection (a flood, a protocol violation), which `HTTP2ErrorCloser`
/// needs to know, since NIO reports a stream's error (one RST_STREAM, the connection
/// fine) through the same `errorCaught`. Only the 9-byte headers are looked at; payloads
/// are skipped, except a GOAWAY's first 8 bytes (its last stream and error code).
final class HTTP2GoAwayObserver: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// Set once NIO wrote a GOAWAY whose error code is not NO_ERROR.
    private(set) var failedWithGoAway = false

    private var header: [UInt8] = []
    private var payloadLeft = 0
    /// Inside a GOAWAY's payload: the bytes of it read so far (up to 8).
    private var goAway: [UInt8]?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .byteBuffer(let buffer) = unwrapOutboundIn(data) {
            buffer.withUnsafeReadableBytes { scan($0) }
        }
        context.write(data, promise: promise)
    }

    private func scan(_ bytes: UnsafeRawBufferPointer) {
        var at = 0
        while at < bytes.count {
            if payloadLeft > 0 {
                let take = min(payloadLeft, bytes.count - at)
                if var seen = goAway {
                    seen.append(contentsOf: bytes[at..<(at + min(take, 8 - seen.count))])
                    goAway = seen.count < 8 ? seen : nil
                    if seen.count >= 8, seen[4..<8].contains(where: { $0 != 0 }) { failedWithGoAway = true }
                }
                payloadLeft -= take
                at += take
                continue
            }
            header.append(bytes[at])
            at += 1
            guard header.count == 9 else { continue }
            payloadLeft = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
            goAway = header[3] == 0x7 && payloadLeft >= 8 ? [] : nil
            header.removeAll(keepingCapacity: true)
        }
    }
}
