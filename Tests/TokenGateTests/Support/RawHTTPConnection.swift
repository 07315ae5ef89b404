import NIOCore
import NIOPosix

/// One HTTP response as a client saw it.
struct TestResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

struct MalformedResponse: Error, CustomStringConvertible {
    var description: String
}

/// A client connection that sends raw bytes (so tests can send what no well-behaved
/// client would) and parses responses itself, trusting nothing about the server.
actor RawHTTPConnection {
    private let channel: any Channel
    private var chunks: AsyncStream<ByteBuffer>.AsyncIterator
    private var buffer: [UInt8] = []
    private var closed = false

    /// `receiveBuffer` sets a small `SO_RCVBUF` and `reading: false` reads nothing until
    /// `startReading()`: a client that does not read its answers.
    static func connect(port: Int, receiveBuffer: Int? = nil, reading: Bool = true) async throws -> RawHTTPConnection {
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            // NIO's default 10 s, stretched for sanitizer runs like every other wait.
            .connectTimeout(.seconds(Int64(10 * TestTime.scale)))
            // Like curl, keep sending after the server shuts its side (lingering close).
            .channelOption(.allowRemoteHalfClosure, value: true)
        if let receiveBuffer {
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
        }
        if !reading { bootstrap = bootstrap.channelOption(.autoRead, value: false) }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(continuation: continuation))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawHTTPConnection(channel: channel, stream: stream)
    }

    private init(channel: any Channel, stream: AsyncStream<ByteBuffer>) {
        self.channel = channel
        self.chunks = stream.makeAsyncIterator()
    }

    /// Sends `request` (head and body, as written) on a connection of its own, and returns
    /// the response, or nil when the server closed without one.
    static func roundTrip(port: Int, _ request: String) async throws -> TestResponse? {
        let connection = try await connect(port: port)
        do {
            try await connection.send(request)
            let response = try await connection.readResponse()
            await connection.close()
            return response
        } catch {
            await connection.close()
            throw error
        }
    }

    func send(_ text: String) async throws {
        try await send(bytes: Array(text.utf8))
    }

    func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// The next complete response, or nil when the connection closed before one began.
    func readResponse(timeout: Duration = .seconds(10)) async throws -> TestResponse? {
        try await withTimeout(timeout) { try await self.parseResponse() }
    }

    /// Reads only a response head (status line and fields): for HEAD answers and 1xx.
    func readHeadOnly(timeout: Duration = .seconds(10)) async throws -> TestResponse? {
        try await withTimeout(timeout) { try await self.parseHead() }
    }

    /// True when the server closes the connection within `timeout` (bytes still unread are dropped).
    func closedByServer(within timeout: Duration = .seconds(5)) async -> Bool {
        (try? await withTimeout(timeout) {
            while await self.fill() {}
            return true
        }) ?? false
    }

    func close() async {
        try? await channel.close()
    }

    /// Exactly `count` bytes (after a protocol switch, say).
    func read(exactly count: Int, timeout: Duration = .seconds(10)) async throws -> [UInt8] {
        try await withTimeout(timeout) { try await self.take(count) }
    }

    /// Starts reading on a connection made with `reading: false`.
    func startReading() async throws {
        try await channel.setOption(.autoRead, value: true).get()
    }

    /// Everything the server sends until it closes the connection.
    func readUntilClosed(timeout: Duration = .seconds(20)) async throws -> [UInt8] {
        try await withTimeout(timeout) { await self.drainToEnd() }
    }

    private func drainToEnd() async -> [UInt8] {
        while await fill() {}
        let all = buffer
        buffer = []
        return all
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() async -> Bool {
        guard !closed else { return false }
        var iterator = chunks
        let chunk = await iterator.next(isolation: self)
        chunks = iterator
        guard let chunk else {
            closed = true
            return false
        }
        buffer += Array(chunk.readableBytesView)
        return true
    }

    private func line() async throws -> String? {
        while true {
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var lineBytes = buffer[..<end]
                if lineBytes.last == UInt8(ascii: "\r") { lineBytes = lineBytes.dropLast() }
                buffer.removeSubrange(...end)
                return String(decoding: lineBytes, as: UTF8.self)
            }
            guard await fill() else { return nil }
        }
    }

    private func take(_ count: Int) async throws -> [UInt8] {
        while buffer.count < count {
            guard await fill() else { throw MalformedResponse(description: "connection closed inside a body") }
        }
        let bytes = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return bytes
    }

    private func parseHead() async throws -> TestResponse? {
        guard let statusLine = try await line() else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
            throw MalformedResponse(description: "bad status line \(statusLine)")
        }
        var headers: [(name: String, value: String)] = []
        while let header = try await line(), !header.isEmpty {
            guard let colon = header.firstIndex(of: ":") else { throw MalformedResponse(description: "bad header \(header)") }
            headers.append((String(header[..<colon]), header[header.index(after: colon)...].trimmingCharacters(in: " \t")))
        }
        return TestResponse(status: code, headers: headers, body: [])
    }

    private func parseResponse() async throws -> TestResponse? {
        var status = 0
        var headers: [(name: String, value: String)] = []
        repeat {
            guard let statusLine = try await line() else { return nil }
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
                throw MalformedResponse(description: "bad status line \(statusLine)")
            }
            status = code
            headers = []
            while let header = try await line(), !header.isEmpty {
                guard let colon = header.firstIndex(of: ":") else { throw MalformedResponse(description: "bad header \(header)") }
                headers.append((String(header[..<colon]), header[header.index(after: colon)...].trimmingCharacters(in: " \t")))
            }
        } while (100..<200).contains(status)
        var response = TestResponse(status: status, headers: headers, body: [])
        if status == 204 || status == 304 { return response }
        if response.header("transfer-encoding")?.lowercased().hasSuffix("chunked") == true {
            while true {
                guard let sizeLine = try await line(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
                    throw MalformedResponse(description: "bad chunk size")
                }
                if size == 0 {
                    while let trailer = try await line(), !trailer.isEmpty {}
                    break
                }
                response.body += try await take(size)
                _ = try await line()
            }
        } else if let length = response.header("content-length").flatMap({ Int($0) }) {
            response.body = try await take(length)
        } else {
            while await fill() {}
            response.body = buffer
            buffer = []
        }
        return response
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let continuation: AsyncStream<ByteBuffer>.Continuation

        init(continuation: AsyncStream<ByteBuffer>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            continuation.yield(unwrapInboundIn(data))
        }

        func channelInactive(context: ChannelHandlerContext) {
            continuation.finish()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case ChannelEvent.inputClosed = event { continuation.finish() }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            continuation.finish()
            context.close(promise: nil)
        }
    }
}

extension String {
    func trimmingCharacters(in characters: String) -> String {
        var view = Substring(self)
        while let first = view.first, characters.contains(first) { view = view.dropFirst() }
        while let last = view.last, characters.contains(last) { view = view.dropLast() }
        return String(view)
    }
}

extension Substring {
    func trimmingCharacters(in characters: String) -> String { String(self).trimmingCharacters(in: characters) }
}

struct TimedOut: Error {}

/// Runs `body`, failing with `TimedOut` when it takes longer than `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout.scaledForRun)
            throw TimedOut()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TimedOut() }
        return first
    }
}
