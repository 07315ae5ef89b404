import NIOCore
import NIOHTTP1
import NIOHTTP2

/// One HTTP/2 connection to an upstream (`upstream_protocol` `h2` or `h2c`), shared by
/// every exchange of its endpoint on one event loop: each exchange is a stream, an
/// `UpstreamConnection` of its own whose channel is the stream's. Streams beyond the
/// upstream's `SETTINGS_MAX_CONCURRENT_STREAMS` wait in NIO until one ends. The
/// connection closes once it has carried no stream for the pool's idle timeout, and is
/// not used for new streams once the upstream sent GOAWAY or the connection closed.
final class HTTP2UpstreamConnection {
    let channel: any Channel
    let key: UpstreamEndpoint.Key
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    private let idleTimeout: TimeAmount
    /// Streams open now.
    private var openStreams = 0
    /// Streams this connection carried so far (a stream after the first is a reused connection's).
    private var servedStreams = 0
    private var idleClose: Scheduled<Void>?
    /// The upstream said GOAWAY: streams it has not seen yet must go to a new connection.
    private(set) var goingAway = false

    init(channel: any Channel, key: UpstreamEndpoint.Key, multiplexer: NIOHTTP2Handler.StreamMultiplexer, idleTimeout: TimeAmount) {
        self.channel = channel
        self.key = key
        self.multiplexer = multiplexer
        self.idleTimeout = idleTimeout
    }

    /// Whether a new exchange may open a stream here.
    var isUsable: Bool { channel.isActive && !goingAway }

    /// Marks the connection as going away (the upstream's GOAWAY).
    func receivedGoAway() {
        goingAway = true
        if openStreams == 0 { channel.close(promise: nil) }
    }

    /// Opens a stream whose pipeline ends with an `UpstreamHandler` in HTTP/2 mode.
    func openStream(_ completion: @escaping (Result<UpstreamConnection, any Error>) -> Void) {
        idleClose?.cancel()
        idleClose = nil
        openStreams += 1
        let reused = servedStreams > 0
        servedStreams += 1
        let scheme: HTTP2FramePayloadToHTTP1ClientCodec.HTTPProtocol = key.tls ? .https : .http
        let key = self.key
        multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                let sync = stream.pipeline.syncOperations
                try sync.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: scheme))
                try sync.addHandler(UpstreamHandler(http2Stream: ()))
            }
        }.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let stream):
                stream.closeFuture.assumeIsolated().whenComplete { [self] _ in streamClosed() }
                do {
                    let handler = try stream.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                    let connection = UpstreamConnection(channel: stream, handler: handler, key: key, isHTTP2Stream: true)
                    connection.isReused = reused
                    completion(.success(connection))
                } catch {
                    stream.close(promise: nil)
                    completion(.failure(error))
                }
            case .failure(let error):
                streamClosed()
                completion(.failure(error))
            }
        }
    }

    private func streamClosed() {
        openStreams -= 1
        guard openStreams == 0 else { return }
        if goingAway {
            channel.close(promise: nil)
            return
        }
        idleClose = channel.eventLoop.assumeIsolated().scheduleTask(in: idleTimeout) { [weak self] in
            guard let self, self.openStreams == 0 else { return }
            self.channel.close(promise: nil)
        }
    }
}
