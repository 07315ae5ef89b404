import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// One HTTP/2 stream as the request parts an HTTP/1 connection gives `ProxyHandler`, and
/// the response parts the handler writes as HTTP/2 frames: each stream is admitted, planned
/// and forwarded by the same code, limits and answers as an HTTP/1 request.
///
/// The request head says how its body is framed, as HTTP/1 would: a `HEADERS` frame that
/// ends the stream has no body; one that does not, without `content-length`, carries
/// `transfer-encoding: chunked` (a field no HTTP/2 client can send: the connection refuses
/// it as connection-specific), so a body of unknown length reaches an HTTP/1 upstream
/// chunked and never unframed. `:authority` becomes `Host`, and the `cookie` fields HTTP/2
/// splits are joined again (RFC 9113 §8.2.3). A `DATA` frame after the request ended, or
/// more bytes than `content-length` said, never reaches the handler: NIO's content-length
/// validation resets the stream first.
///
/// A response head is held until the next part or flush, so a bodiless answer is one
/// `HEADERS` frame that ends the stream.
final class HTTP2StreamCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// The response head written but not yet sent, and the promise of its write.
    private var heldHead: (headers: HPACKHeaders, promise: EventLoopPromise<Void>?)?
    /// The request's head was passed on (anything after it is body or trailers).
    private var headSeen = false
    /// The request ended (`END_STREAM`).
    private var requestEnded = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let frame):
            if headSeen {
                // Trailers: HTTP/1's `.end` carries them (the handler forwards no trailers).
                guard !requestEnded else { return }
                requestEnded = true
                context.fireChannelRead(wrapInboundOut(.end(nil)))
                return
            }
            headSeen = true
            requestEnded = frame.endStream
            context.fireChannelRead(wrapInboundOut(.head(Self.requestHead(frame.headers, endStream: frame.endStream))))
            if frame.endStream { context.fireChannelRead(wrapInboundOut(.end(nil))) }
        case .data(let frame):
            guard headSeen, !requestEnded else { return }
            if case .byteBuffer(let buffer) = frame.data, buffer.readableBytes > 0 {
                context.fireChannelRead(wrapInboundOut(.body(buffer)))
            }
            if frame.endStream {
                requestEnded = true
                context.fireChannelRead(wrapInboundOut(.end(nil)))
            }
        default:
            break
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            sendHeldHead(context: context)
            var headers = HPACKHeaders()
            headers.reserveCapacity(head.headers.count + 1)
            headers.add(name: ":status", value: String(head.status.code))
            Self.appendResponseFields(head.headers, to: &headers)
            if (100..<200).contains(head.status.code) {
                // An informational head is its own frame; the final one follows.
                context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: promise)
            } else {
                heldHead = (headers, promise)
            }
        case .body(let body):
            sendHeldHead(context: context)
            context.write(wrapOutboundOut(.data(.init(data: body, endStream: false))), promise: promise)
        case .end(let trailers):
            var promise = promise
            if !requestEnded {
                // The answer is complete and the request is not (a refusal before its body,
                // an upstream that answered early): once the answer's last frame is out, ask
                // the client to stop sending, without error, as RFC 9113 §8.1 says. Closing
                // the stream instead would reset it with CANCEL, which tells the client its
                // request failed. (Written earlier, the reset would overtake the answer's
                // DATA, which NIO holds for flow control until a flush.)
                requestEnded = true
                let sent = context.eventLoop.makePromise(of: Void.self)
                // The reset first, then the writer's promise: a writer that closes the stream
                // once its answer is out would otherwise reset it with CANCEL first.
                sent.futureResult.assumeIsolated().whenSuccess {
                    context.writeAndFlush(self.wrapOutboundOut(.rstStream(.noError)), promise: nil)
                }
                if let promise { sent.futureResult.cascade(to: promise) }
                promise = sent
            }
            if let trailers, !trailers.isEmpty {
                sendHeldHead(context: context)
                var fields = HPACKHeaders()
                Self.appendResponseFields(trailers, to: &fields)
                context.write(wrapOutboundOut(.headers(.init(headers: fields, endStream: true))), promise: promise)
            } else if let held = heldHead {
                heldHead = nil
                context.write(wrapOutboundOut(.headers(.init(headers: held.headers, endStream: true))), promise: Self.joined(held.promise, promise, on: context.eventLoop))
            } else {
                context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))), promise: promise)
            }
        }
    }

    func flush(context: ChannelHandlerContext) {
        sendHeldHead(context: context)
        context.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        heldHead?.promise?.fail(ChannelError.ioOnClosedChannel)
        heldHead = nil
    }

    private func sendHeldHead(context: ChannelHandlerContext) {
        guard let held = heldHead else { return }
        heldHead = nil
        context.write(wrapOutboundOut(.headers(.init(headers: held.headers))), promise: held.promise)
    }

    /// Both promises complete when the one write does.
    private static func joined(_ first: EventLoopPromise<Void>?, _ second: EventLoopPromise<Void>?, on loop: any EventLoop) -> EventLoopPromise<Void>? {
        guard let first else { return second }
        guard let second else { return first }
        first.futureResult.cascade(to: second)
        return first
    }

    /// The response's fields in HTTP/2 form: lower-case names, and none of the
    /// connection-specific fields HTTP/1 uses (`Connection` and what it lists,
    /// `Keep-Alive`, `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`).
    static func appendResponseFields(_ fields: HTTPHeaders, to headers: inout HPACKHeaders) {
        let normalized = HPACKHeaders(httpHeaders: fields, normalizeHTTPHeaders: true)
        for (name, value, _) in normalized { headers.add(name: name, value: value) }
    }

    /// The request head a `HEADERS` frame makes, as an HTTP/1 decoder would have made it
    /// (version 2.0, so the planner knows where it came from).
    static func requestHead(_ headers: HPACKHeaders, endStream: Bool) -> HTTPRequestHead {
        var method = ""
        var path = ""
        var authority: String?
        var fields = HTTPHeaders()
        fields.reserveCapacity(headers.count + 1)
        var cookies: [String] = []
        var hasLength = false
        for (name, value, _) in headers {
            if name.utf8.first == UInt8(ascii: ":") {
                switch name {
                case ":method": method = value
                case ":path": path = value
                case ":authority": authority = value
                default: break
                }
                continue
            }
            if name == "cookie" {
                cookies.append(value)
                continue
            }
            if name == "host", let authority, value == authority { continue }
            if name == "content-length" { hasLength = true }
            fields.add(name: name, value: value)
        }
        // A `Host` that disagrees with `:authority` stays beside it: the planner refuses
        // two hosts, as it would from an HTTP/1 client.
        if let authority { fields.add(name: "host", value: authority) }
        if !cookies.isEmpty { fields.add(name: "cookie", value: cookies.joined(separator: "; ")) }
        if !endStream && !hasLength { fields.add(name: "transfer-encoding", value: "chunked") }
        return HTTPRequestHead(version: .http2, method: HTTPMethod(rawValue: method), uri: path, headers: fields)
    }
}
