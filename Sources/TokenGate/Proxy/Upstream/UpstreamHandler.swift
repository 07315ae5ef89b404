import NIOCore
import NIOHTTP1

/// The last handler of an upstream connection: hands response parts to the current
/// delegate and holds reads while the client side is not writable (backpressure).
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The connection's response decoder, told the method of each request sent (none on
    /// an HTTP/2 stream: NIO's codec before this handler has made the parts already).
    private let decoder: HTTPResponseDecoder?
    /// This handler ends an HTTP/2 stream (`HTTP2UpstreamConnection`): the request goes out
    /// as `HTTPClientRequestPart`s, which the stream's codec turns into frames.
    private let http2Stream: Bool
    /// The last request head handed to the decoder: it reads only the method, so one head
    /// per method serves every request.
    private var methodHead: HTTPRequestHead?
    /// The request body goes out in chunks.
    private var bodyChunked = false
    /// Bytes were written since the last flush.
    private var unflushed = false

    /// The exchange using this connection; nil while it sits in the pool.
    var delegate: (any UpstreamResponseDelegate)?
    /// Called when an idle (pooled) connection closes or misbehaves, so the pool drops it.
    var onIdleClose: (() -> Void)?

    private var context: ChannelHandlerContext?
    private var readPending = false
    private var responseKeepAlive = true
    /// Inside a read: the decoder may still hold bytes behind the part just delivered.
    private(set) var isReading = false
    /// Given back during a read: the pool takes the connection once the read is complete,
    /// if nothing followed the response (bytes nobody asked for close it instead, so they
    /// can never answer the next request, nginx's "upstream sent more data than specified").
    private var releasing: (pool: UpstreamPool, connection: UpstreamConnection)?
    /// The raw reads ahead of the decoder (see `UpstreamReadTail`).
    private let tail: UpstreamReadTail?
    /// Where the current response's last body part ended in memory, and in which read the
    /// response ended.
    private var lastBodyEnd: UInt = 0
    private var endedInRead: UInt = 0

    init(decoder: HTTPResponseDecoder, tail: UpstreamReadTail? = nil) {
        self.decoder = decoder
        self.tail = tail
        self.http2Stream = false
    }

    /// The handler of one HTTP/2 stream's exchange.
    init(http2Stream: Void) {
        self.decoder = nil
        self.tail = nil
        self.http2Stream = true
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        isReading = true
        guard let delegate else {
            // Nobody asked: a pooled connection, or one whose response just ended, must not
            // speak. Drop it.
            releasing = nil
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            responseKeepAlive = head.isKeepAlive
            lastBodyEnd = 0
            delegate.upstreamResponseHead(head)
        case .body(let buffer):
            if tail != nil { lastBodyEnd = buffer.readableEndAddress }
            delegate.upstreamResponseBody(buffer)
        case .end(let trailers):
            self.delegate = nil
            endedInRead = tail?.reads ?? 0
            // A stream is never reused: the pool keeps its connection, not the stream.
            delegate.upstreamResponseEnd(reusable: !http2Stream && responseKeepAlive && context.channel.isActive, trailers: trailers)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        isReading = false
        if let (pool, connection) = releasing {
            releasing = nil
            if endedWithRead {
                pool.admit(connection)
            } else {
                connection.close()
            }
        }
        delegate?.upstreamReadComplete()
    }

    /// Whether the response that ended in this read ended with the read's last byte
    /// (no byte behind it that could begin an answer nobody asked for).
    private var endedWithRead: Bool {
        guard let tail else { return true }
        guard tail.reads == endedInRead else { return false }
        return tail.lastEndsWithEmptyLine || (lastBodyEnd != 0 && lastBodyEnd == tail.lastEnd)
    }

    /// Hands `connection` to `pool` once the read in progress is complete.
    func releaseAfterRead(to pool: UpstreamPool, _ connection: UpstreamConnection) {
        releasing = (pool, connection)
    }

    func channelInactive(context: ChannelHandlerContext) {
        releasing = nil
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(UpstreamClosedError())
        } else {
            onIdleClose?()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(error)
        }
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if delegate?.clientIsWritable ?? true {
            context.read()
        } else {
            readPending = true
        }
    }

    /// Called by the client side when it can take bytes again.
    func resumeReading() {
        guard readPending, let context else { return }
        readPending = false
        context.read()
    }

    /// Writes a request head (`bytes`, complete), without flushing.
    func sendHead(_ bytes: ByteBuffer, method: HTTPMethod, chunkedBody: Bool) {
        guard let context else { return }
        if http2Stream {
            // HTTP/2 frames the body itself: no chunking, no connection fields.
            unflushed = true
            context.write(NIOAny(HTTPClientRequestPart.head(HTTPHeadBuilder(continuing: bytes).http2RequestHead(method: method))), promise: nil)
            return
        }
        if methodHead?.method != method {
            methodHead = HTTPRequestHead(version: .http1_1, method: method, uri: "/")
        }
        if let methodHead { decoder?.write(data: .head(methodHead)) }
        bodyChunked = chunkedBody
        unflushed = true
        context.write(wrapOutboundOut(bytes), promise: nil)
    }

    /// Writes a part of the request body (chunk-framed when the head said so), without flushing.
    func sendBody(_ buffer: ByteBuffer) {
        guard let context else { return }
        unflushed = true
        if http2Stream {
            context.write(NIOAny(HTTPClientRequestPart.body(.byteBuffer(buffer))), promise: nil)
        } else if bodyChunked {
            ChunkedCoding.frame(buffer, allocator: context.channel.allocator) { context.write(wrapOutboundOut($0), promise: nil) }
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    /// Ends the request body (the last chunk when chunked), without flushing.
    func sendEnd() {
        if http2Stream, let context {
            // END_STREAM, whatever the body was.
            unflushed = true
            context.write(NIOAny(HTTPClientRequestPart.end(nil)), promise: nil)
            return
        }
        guard bodyChunked, let context else { return }
        bodyChunked = false
        unflushed = true
        context.write(wrapOutboundOut(context.channel.allocator.buffer(staticString: ChunkedCoding.lastChunk)), promise: nil)
    }

    /// Flushes what was written since the last flush (a flush with nothing to send still
    /// walks the pipeline, so it is skipped).
    func flush() {
        guard unflushed, let context else { return }
        unflushed = false
        context.flush()
    }
}
