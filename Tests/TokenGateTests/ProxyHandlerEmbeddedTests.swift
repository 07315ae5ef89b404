import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import TokenGate

/// The proxy and admin handlers in an `EmbeddedChannel`: the handler carries out what the
/// state machine decides, observed as the bytes it writes.
@Suite("Proxy and admin handlers in an EmbeddedChannel")
struct ProxyHandlerEmbeddedTests {
    /// A client channel with the listener's pipeline in front of a handler for `config`.
    private func proxyChannel(_ json: String) throws -> EmbeddedChannel {
        let loaded = try ConfigLoader(resolver: SecretResolver(environment: [:])).load(bytes: Array(json.utf8))
        let telemetry = Telemetry(accessLog: AccessLogWriter(outputIsTerminal: false) { _ in })
        let snapshot = try ConfigSnapshot(loaded, metrics: telemetry.metrics)
        let channel = EmbeddedChannel()
        let environment = ListenerEnvironment(
            name: "main", snapshots: SnapshotStore(snapshot), pools: UpstreamPools(group: channel.embeddedEventLoop),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), telemetry: telemetry
        )
        let handler = ProxyHandler(environment: environment, headTimeout: .seconds(10), idleTimeout: .seconds(60))
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RequestHeadDecoder(observer: handler)))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private let noRoutes = """
    { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
      "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "upstream": "http://127.0.0.1:1/" } ] }
    """

    /// Everything the handler wrote, as text.
    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return text
    }

    @Test("pipelined requests wait while the client is not writable and are answered, in order, once it is")
    func answersWaitForWritability() throws {
        let channel = try proxyChannel(noRoutes)
        channel.isWritable = false
        try channel.writeInbound(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(try written(channel).isEmpty, "nothing is answered to a client that cannot take it")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        let answers = try written(channel)
        #expect(answers.components(separatedBy: "HTTP/1.1 404").count - 1 == 2)
        #expect(channel.isActive, "both were keep-alive")
        _ = try? channel.finish()
        channel.embeddedEventLoop.run()
    }

    @Test("a closing answer the client never reads: the connection closes once the listener's idle timeout passes, not never")
    func closingAnswerHasDeadline() throws {
        let channel = try proxyChannel(noRoutes)
        let stalled = StalledWrites()
        try channel.pipeline.syncOperations.addHandler(stalled, position: .first)
        try channel.writeInbound(ByteBuffer(string: "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
        #expect(stalled.heldWrites > 0, "the 404 is written and waits for the client")
        #expect(channel.isActive, "its last bytes get the idle timeout to leave")
        channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, "closed whether or not the write finished")
    }

    @Test("a tunnel that ends closes both sides, also the one whose peer never reads the last bytes it was sent")
    func tunnelCloseHasDeadline() throws {
        let loop = EmbeddedEventLoop()
        let client = EmbeddedChannel(loop: loop)
        let upstream = EmbeddedChannel(loop: loop)
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try upstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        var recorded = false
        let session = TunnelSession(eventLoop: loop, idleTimeout: .seconds(5)) { _, _ in recorded = true }
        let clientSide = TunnelHandler(session: session, side: .client)
        let upstreamSide = TunnelHandler(session: session, side: .upstream)
        clientSide.partner = upstreamSide
        upstreamSide.partner = clientSide
        let stalled = StalledWrites()
        try client.pipeline.syncOperations.addHandler(stalled)
        try client.pipeline.syncOperations.addHandler(clientSide)
        try upstream.pipeline.syncOperations.addHandler(upstreamSide)
        try upstream.writeInbound(ByteBuffer(string: "last words"))
        upstream.pipeline.fireChannelReadComplete()
        #expect(stalled.heldWrites > 0)
        session.close()
        #expect(!upstream.isActive, "the side whose peer reads closes at once")
        #expect(client.isActive)
        loop.advanceTime(by: .seconds(5))
        #expect(!client.isActive, "the other closes when the tunnel's idle timeout has passed")
        #expect(recorded)
    }

    @Test("TRACE is answered 405 by the handler and the connection stays usable")
    func traceRefused() throws {
        let channel = try proxyChannel(noRoutes)
        try channel.writeInbound(ByteBuffer(string: "TRACE /api/x HTTP/1.1\r\nHost: a\r\n\r\n"))
        let answer = try written(channel)
        #expect(answer.hasPrefix("HTTP/1.1 405"))
        #expect(answer.contains(#""error":"method_not_allowed""#))
        #expect(channel.isActive)
        _ = try? channel.finish()
        channel.embeddedEventLoop.run()
    }

    @Test("a request arriving on a listener address the configuration no longer has gets 421 and the connection closes")
    func retiredListener() throws {
        let loaded = try ConfigLoader(resolver: SecretResolver(environment: [:])).load(bytes: Array(noRoutes.utf8))
        let telemetry = Telemetry(accessLog: AccessLogWriter(outputIsTerminal: false) { _ in })
        let channel = EmbeddedChannel()
        let environment = ListenerEnvironment(
            name: "main", snapshots: SnapshotStore(try ConfigSnapshot(loaded, metrics: telemetry.metrics)),
            pools: UpstreamPools(group: channel.embeddedEventLoop), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            telemetry: telemetry
        )
        let handler = ProxyHandler(
            environment: environment, headTimeout: .seconds(10), idleTimeout: .seconds(60), acceptedOn: BindAddress(host: "0.0.0.0", port: 8080)
        )
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RequestHeadDecoder(observer: handler)))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(channel.isActive)
        try channel.writeInbound(ByteBuffer(string: "GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n"))
        let answer = try written(channel)
        #expect(answer.hasPrefix("HTTP/1.1 421"))
        #expect(answer.contains("Connection: close"))
        #expect(!channel.isActive)
        _ = try? channel.finish()
        // The handler closed the channel: its pipeline is taken down on the loop's next run.
        channel.embeddedEventLoop.run()
    }

    @Test("the admin handler refuses a rebinding Host with 421 and serves a loopback one")
    func adminHost() throws {
        let routes = AdminRoutes(isReady: { true }, status: { "{}" }, metrics: { "" }, reload: { answer in answer(nil) })
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
        try channel.pipeline.syncOperations.addHandler(AdminHandler(routes: routes, allowedHost: "127.0.0.1"))
        try channel.writeInbound(ByteBuffer(string: "GET /status HTTP/1.1\r\nHost: attacker.example\r\n\r\n"))
        #expect(try written(channel).hasPrefix("HTTP/1.1 421"))

        let second = EmbeddedChannel()
        try second.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
        try second.pipeline.syncOperations.addHandler(AdminHandler(routes: routes, allowedHost: "127.0.0.1"))
        try second.writeInbound(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: localhost:9901\r\n\r\n"))
        #expect(try written(second).hasPrefix("HTTP/1.1 200"))
        _ = try? channel.finish()
        channel.embeddedEventLoop.run()
        _ = try? second.finish()
        second.embeddedEventLoop.run()
    }
}

/// Stands for a client that never reads: writes are taken and never finish (until the
/// channel closes, when they fail, as a socket's do).
private final class StalledWrites: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private var held: [EventLoopPromise<Void>] = []
    private(set) var heldWrites = 0

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        heldWrites += 1
        if let promise { held.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {}

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        let pending = held
        held = []
        for promise in pending { promise.fail(ChannelError.ioOnClosedChannel) }
        context.close(mode: mode, promise: promise)
    }
}
