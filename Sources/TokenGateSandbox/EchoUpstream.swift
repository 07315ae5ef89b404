import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// A development and test upstream: answers every request with a JSON description of
/// what it received (method, path, query, headers, body size and, for small bodies, the
/// body itself). Never started by `tokengate run`.
///
/// Request headers steer it, so tests can shape responses through the gateway:
/// - `X-Echo-Delay-Ms: N` waits N ms before answering;
/// - `X-Echo-Status: N` answers with that status;
/// - `X-Echo-WWW-Authenticate: V` adds that challenge to the answer;
/// - `X-Echo-Response-Bytes: N` answers with N bytes of body instead of the JSON,
///   streamed in 64 KiB pieces as fast as the client reads (`X-Echo-Chunked: 1` sends it
///   without Content-Length).
public final class EchoUpstream: Sendable {
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let stats: Stats
    private let stopped = NIOLockedValueBox(false)

    /// Counters a test can read while requests are in flight.
    final class Stats: Sendable {
        let requests = NIOLockedValueBox(0)
        let connections = NIOLockedValueBox(0)
        let closedConnections = NIOLockedValueBox(0)
        let bodyBytes = NIOLockedValueBox(0)
        let http2Streams = NIOLockedValueBox(0)
        let rejectedAuthorizations = NIOLockedValueBox<Set<String>>([])
        let authorizations = NIOLockedValueBox<[String]>([])
    }

    /// Starts on `host:port` (port 0 picks a free one). With `tls` (PEM certificate chain
    /// and key files) it speaks HTTPS. With `http2` it speaks HTTP/2 only: by ALPN `h2`
    /// over TLS, by prior knowledge (h2c) without; each stream is echoed as a request.
    public static func start(
        host: String = "127.0.0.1", port: Int = 0, tls: (certificateFile: String, keyFile: String)? = nil, http2: Bool = false
    ) async throws -> EchoUpstream {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stats = Stats()
        do {
            let tlsContext = try tls.map { files in
                var configuration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificateFile).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: files.keyFile, format: .pem))
                )
                if http2 { configuration.applicationProtocols = ["h2"] }
                return try NIOSSLContext(configuration: configuration)
            }
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    stats.connections.withLockedValue { $0 += 1 }
                    channel.closeFuture.whenComplete { _ in stats.closedConnections.withLockedValue { $0 += 1 } }
                    do {
                        if let tlsContext {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
                        }
                        if http2 {
                            _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()) { stream in
                                stream.eventLoop.makeCompletedFuture {
                                    stats.http2Streams.withLockedValue { $0 += 1 }
                                    try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                    try stream.pipeline.syncOperations.addHandler(EchoHandler(stats: stats))
                                }
                            }
                            return channel.eventLoop.makeSucceededVoidFuture()
                        }
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(EchoHandler(stats: stats))
                        return channel.eventLoop.makeSucceededVoidFuture()
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                .bind(host: host, port: port).get()
            return EchoUpstream(channel: channel, group: group, stats: stats)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, stats: Stats) {
        self.channel = channel
        self.group = group
        self.stats = stats
    }

    public var port: Int { channel.localAddress?.port ?? 0 }
    /// Connections accepted so far.
    public var connectionCount: Int { stats.connections.withLockedValue { $0 } }
    /// HTTP/2 streams opened so far (with `http2`).
    public var http2StreamCount: Int { stats.http2Streams.withLockedValue { $0 } }
    /// Connections that have closed (either side).
    public var closedConnectionCount: Int { stats.closedConnections.withLockedValue { $0 } }
    /// Requests whose head arrived.
    public var requestCount: Int { stats.requests.withLockedValue { $0 } }
    /// Request body bytes received so far, across all requests (grows while a body streams).
    public var bodyBytesReceived: Int { stats.bodyBytes.withLockedValue { $0 } }

    /// Answers 401 to requests whose `Authorization` is `Bearer <token>` (an upstream that
    /// stopped accepting a token).
    public func rejectBearer(_ token: String) {
        stats.rejectedAuthorizations.withLockedValue { _ = $0.insert("Bearer " + token) }
    }

    /// The `Authorization` values of every request, in order ("" when absent).
    public var authorizationsSeen: [String] { stats.authorizations.withLockedValue { $0 } }

    /// Closes the listener and its event loop; later calls do nothing.
    public func stop() async {
        let first = stopped.withLockedValue { stopped -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let stats: EchoUpstream.Stats
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var bodySample = ByteBuffer()
    private var remainingToSend = 0
    private var streamingContext: ChannelHandlerContext?
    private static let sampleLimit = 64 * 1024

    init(stats: EchoUpstream.Stats) { self.stats = stats }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
            bodySample.clear()
            stats.requests.withLockedValue { $0 += 1 }
            stats.authorizations.withLockedValue { $0.append(head.headers.first(name: "authorization") ?? "") }
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            stats.bodyBytes.withLockedValue { $0 += buffer.readableBytes }
            if bodySample.readableBytes < Self.sampleLimit {
                var copy = buffer
                bodySample.writeBuffer(&copy)
            }
        case .end:
            guard let head else { return }
            let delay = Int(head.headers.first(name: "x-echo-delay-ms") ?? "") ?? 0
            if delay > 0 {
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(delay))) { [self] in
                    self.respond(context: context, to: head)
                }
            } else {
                respond(context: context, to: head)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        guard context.channel.isActive else { return }
        var status = HTTPResponseStatus(statusCode: Int(head.headers.first(name: "x-echo-status") ?? "") ?? 200)
        let authorization = head.headers.first(name: "authorization") ?? ""
        var headers = HTTPHeaders()
        if !authorization.isEmpty, stats.rejectedAuthorizations.withLockedValue({ $0.contains(authorization) }) {
            status = .unauthorized
            headers.add(name: "WWW-Authenticate", value: #"Bearer realm="echo", error="invalid_token""#)
        }
        if let challenge = head.headers.first(name: "x-echo-www-authenticate") {
            headers.add(name: "WWW-Authenticate", value: challenge)
        }
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        if let size = Int(head.headers.first(name: "x-echo-response-bytes") ?? ""), size >= 0 {
            headers.add(name: "Content-Type", value: "application/octet-stream")
            if head.headers.first(name: "x-echo-chunked") == "1" {
                headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                headers.add(name: "Content-Length", value: String(size))
            }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            remainingToSend = size
            streamingContext = context
            pump(context: context)
            return
        }
        let body = describe(head)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        finish(context: context, keepAlive: head.isKeepAlive)
    }

    /// Streams the requested download while the client keeps up.
    private func pump(context: ChannelHandlerContext) {
        let piece = context.channel.allocator.buffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
        while remainingToSend > 0 && context.channel.isWritable {
            let count = min(remainingToSend, piece.readableBytes)
            remainingToSend -= count
            context.write(wrapOutboundOut(.body(.byteBuffer(piece.getSlice(at: piece.readerIndex, length: count) ?? piece))), promise: nil)
        }
        context.flush()
        // The flush may have re-entered through a writability change and finished already.
        if remainingToSend == 0, streamingContext != nil {
            streamingContext = nil
            finish(context: context, keepAlive: head?.isKeepAlive ?? false)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, streamingContext != nil { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func finish(context: ChannelHandlerContext, keepAlive: Bool) {
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    private func describe(_ head: HTTPRequestHead) -> String {
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map(String.init) ?? head.uri
        let query = parts.count > 1 ? String(parts[1]) : nil
        var json = "{\"method\":\(quote(head.method.rawValue)),\"path\":\(quote(path))"
        json += ",\"query\":" + (query.map(quote) ?? "null")
        json += ",\"headers\":[" + head.headers.map { "[\(quote($0.name)),\(quote($0.value))]" }.joined(separator: ",") + "]"
        json += ",\"body_bytes\":\(bodyBytes)"
        if bodyBytes <= Self.sampleLimit, let text = bodySample.getString(at: bodySample.readerIndex, length: bodySample.readableBytes) {
            json += ",\"body\":\(quote(text))"
        }
        return json + "}"
    }
}
