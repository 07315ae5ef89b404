import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
@testable import TokenGate

/// One client connection through the proxy, with no socket anywhere: the client side is
/// an `EmbeddedChannel` with the listener's pipeline (the request decoder that
/// tells the handler when a head begins, `ProxyHandler`), and every upstream connection the pool opens is an `EmbeddedChannel`
/// with the gateway's own upstream pipeline, handed out by `EmbeddedUpstreamConnector`.
///
/// All of them share one `EmbeddedEventLoop`, as the client and upstream channels of a
/// running gateway share their event loop: the handlers call each other directly and the
/// test moves time with `loop.advanceTime(by:)`. Call `finish()` when done (a `defer`):
/// an embedded channel left open, or a loop left with scheduled work, fails an assertion.
final class EmbeddedProxy {
    let loop: EmbeddedEventLoop
    /// The client's connection: the test writes request bytes in and reads answers out.
    let client: EmbeddedChannel
    /// Hands out the upstream connections, in the order the gateway opened them.
    let upstreams: EmbeddedUpstreamConnector
    /// Counts the reads the gateway lets through to the client's socket (its backpressure).
    let clientReads: ReadCounter
    /// Holds what the gateway writes to the client while `holding` (a client that stops reading).
    let clientWrites: WriteGate
    /// The connection's proxy handler (to look at what it holds, never to drive it).
    let handler: ProxyHandler

    /// The proxy for listener `listener` of `snapshots`. `idleTimeout` is the listener's
    /// keep-alive timeout, which also bounds how long a closing answer may wait for a client
    /// that does not read it.
    init(snapshots: SnapshotStore, telemetry: Telemetry, listener: String = "main", idleTimeout: TimeAmount = .seconds(60)) throws {
        let loop = EmbeddedEventLoop()
        let upstreams = EmbeddedUpstreamConnector(loop: loop)
        let client = EmbeddedChannel(loop: loop)
        let reads = ReadCounter()
        let writes = WriteGate()
        self.loop = loop
        self.upstreams = upstreams
        self.client = client
        self.clientReads = reads
        self.clientWrites = writes
        let environment = ListenerEnvironment(
            name: listener, snapshots: snapshots, pools: UpstreamPools(group: loop, connector: upstreams),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), telemetry: telemetry
        )
        // Connected before the handlers join, so the proxy handler sees the peer's address
        // (X-Forwarded-For), as it does on an accepted socket.
        let peer = try SocketAddress(ipAddress: "127.0.0.1", port: 40000)
        client.connect(to: peer, promise: nil)
        let sync = client.pipeline.syncOperations
        try sync.addHandler(reads)
        try sync.addHandler(writes)
        let handler = ProxyHandler(environment: environment, headTimeout: .seconds(10), idleTimeout: idleTimeout)
        self.handler = handler
        try sync.addHandler(ByteToMessageHandler(RequestHeadDecoder(observer: handler)))
        try sync.addHandler(handler)
    }

    /// The proxy for the listener `main` of the configuration `json`, with its own telemetry.
    convenience init(config json: String, idleTimeout: TimeAmount = .seconds(60)) throws {
        let loaded = try ConfigLoader(resolver: SecretResolver(environment: [:])).load(bytes: Array(json.utf8))
        let telemetry = Telemetry(accessLog: AccessLogWriter(outputIsTerminal: false) { _ in })
        let snapshot = try ConfigSnapshot(loaded, metrics: telemetry.metrics)
        try self.init(snapshots: SnapshotStore(snapshot), telemetry: telemetry, idleTimeout: idleTimeout)
    }

    /// The client sends `text` (one read).
    func send(_ text: String) throws {
        try client.writeInbound(ByteBuffer(string: text))
    }

    /// What the gateway wrote to the client since the last call, as text.
    func received() throws -> String {
        try client.writtenText()
    }

    /// The upstream connections opened so far, oldest first.
    var connections: [EmbeddedUpstream] { upstreams.connections }

    /// The `index`-th upstream connection opened, if there is one.
    func upstream(_ index: Int) -> EmbeddedUpstream? {
        let all = upstreams.connections
        return all.indices.contains(index) ? all[index] : nil
    }

    /// The first upstream connection with bytes the test has not read yet, and those bytes.
    func nextRequest() throws -> (upstream: EmbeddedUpstream, text: String)? {
        for upstream in upstreams.connections {
            let text = try upstream.received()
            if !text.isEmpty { return (upstream, text) }
        }
        return nil
    }

    /// Closes every channel: the client first (the exchange in flight is abandoned and its
    /// upstream connection closed, so nothing opens a new one), then the upstream
    /// connections. Each `finish` runs the loop and cancels what is still scheduled.
    func finish() {
        _ = try? client.finish(acceptAlreadyClosed: true)
        for upstream in upstreams.connections {
            _ = try? upstream.channel.finish(acceptAlreadyClosed: true)
        }
    }
}

/// An upstream connection as the test sees it: the requests the gateway wrote to it and
/// the responses the test writes into it.
final class EmbeddedUpstream {
    let channel: EmbeddedChannel
    /// Counts the reads the gateway lets through to this connection's socket.
    let reads: ReadCounter

    init(channel: EmbeddedChannel, reads: ReadCounter) {
        self.channel = channel
        self.reads = reads
    }

    /// What the gateway wrote to the upstream since the last call, as text.
    func received() throws -> String {
        try channel.writtenText()
    }

    /// The upstream sends `text` (one read).
    func respond(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// The upstream closes the connection.
    func close() {
        channel.close(promise: nil)
    }
}

/// Opens "upstream connections" that are `EmbeddedChannel`s on the client's loop, each
/// with a `ReadCounter` in front of the gateway's upstream pipeline. Only ever used on the
/// loop's thread, as the embedded channels are (hence unchecked).
final class EmbeddedUpstreamConnector: UpstreamConnector, @unchecked Sendable {
    private let loop: EmbeddedEventLoop
    /// Every connection handed out, oldest first.
    private(set) var connections: [EmbeddedUpstream] = []

    init(loop: EmbeddedEventLoop) {
        self.loop = loop
    }

    func connect(to endpoint: UpstreamEndpoint, timeout: TimeAmount, on eventLoop: any EventLoop) -> EventLoopFuture<any Channel> {
        let channel = EmbeddedChannel(loop: loop)
        let reads = ReadCounter()
        connections.append(EmbeddedUpstream(channel: channel, reads: reads))
        do {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(reads)
            try sync.addUpstreamHTTPHandlers()
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: endpoint.key.port)
            channel.connect(to: address, promise: nil)
        } catch {
            channel.close(promise: nil)
            return eventLoop.makeFailedFuture(error)
        }
        return eventLoop.makeSucceededFuture(channel as any Channel)
    }
}

/// Counts the `read` calls that reach it and passes them on. First in a pipeline, it sees
/// the reads the handlers let through to the socket: a side whose reads stop is not read,
/// as `autoRead` on a socket would not read it.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}

/// Stands for a client that stops reading: while `holding`, writes are kept and never
/// finish (until the channel closes, when they fail, as a socket's do); otherwise they pass.
final class WriteGate: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var holding = false
    private var held: [EventLoopPromise<Void>] = []
    /// The bytes held back, as text.
    private(set) var heldText = ""

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard holding else {
            context.write(data, promise: promise)
            return
        }
        var buffer = unwrapOutboundIn(data)
        heldText += buffer.readString(length: buffer.readableBytes) ?? ""
        if let promise { held.append(promise) }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        let pending = held
        held = []
        for promise in pending { promise.fail(ChannelError.ioOnClosedChannel) }
        context.close(mode: mode, promise: promise)
    }
}

extension EmbeddedChannel {
    /// Every buffer written out (and flushed) since the last call, as text.
    func writtenText() throws -> String {
        var text = ""
        while var buffer = try readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return text
    }
}
