import NIOCore
import NIOHTTP2

/// Why an `h2` upstream cannot be used: it did not agree to HTTP/2 in the TLS handshake.
struct UpstreamRefusedHTTP2: Error, CustomStringConvertible {
    var description: String { "the upstream did not negotiate h2 by ALPN (upstream_protocol \"h2\" needs an HTTP/2 server)" }
}

// HTTP/2 upstreams: one connection per endpoint on this loop, a stream per exchange.
extension UpstreamPool {
    /// A new stream on the endpoint's HTTP/2 connection, connecting it first if there is
    /// none (exchanges that arrive meanwhile wait for that one connection).
    func acquireStream(_ endpoint: UpstreamEndpoint, connectTimeout: TimeAmount, fresh: Bool,
                       _ completion: @escaping (Result<UpstreamConnection, any Error>) -> Void) {
        let key = endpoint.key
        if !fresh, let connection = http2Connections[key], connection.isUsable {
            connection.openStream(completion)
            return
        }
        if http2Waiters[key] != nil {
            http2Waiters[key, default: []].append(completion)
            return
        }
        http2Waiters[key] = [completion]
        connectHTTP2(endpoint, timeout: connectTimeout) { [self] result in
            let waiters = http2Waiters.removeValue(forKey: key) ?? []
            switch result {
            case .success(let connection):
                http2Connections[key] = connection
                connection.channel.closeFuture.assumeIsolated().whenComplete { [weak self, weak connection] _ in
                    guard let self, let connection, self.http2Connections[key] === connection else { return }
                    self.http2Connections[key] = nil
                }
                for waiter in waiters { connection.openStream(waiter) }
            case .failure(let error):
                for waiter in waiters { waiter(.failure(error)) }
            }
        }
    }

    /// TCP (and TLS with ALPN `h2`, or prior knowledge), then NIO's HTTP/2 client handler.
    private func connectHTTP2(_ endpoint: UpstreamEndpoint, timeout: TimeAmount,
                              _ completion: @escaping (Result<HTTP2UpstreamConnection, any Error>) -> Void) {
        let key = endpoint.key
        let idleTimeout = self.idleTimeout
        connector.connectTransport(to: endpoint, timeout: timeout, on: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let channel):
                var completed = false
                let finish: (Result<HTTP2UpstreamConnection, any Error>) -> Void = { result in
                    guard !completed else { return }
                    completed = true
                    completion(result)
                }
                channel.closeFuture.assumeIsolated().whenComplete { _ in finish(.failure(UpstreamClosedError())) }
                let configure: (any Channel) throws -> Void = { channel in
                    finish(.success(try Self.addHTTP2Handlers(channel, key: key, idleTimeout: idleTimeout)))
                }
                do {
                    if key.tls {
                        // The handshake decides, within the connect timeout.
                        try channel.pipeline.syncOperations.addHandler(ProtocolSelector(mode: .alpn, deadline: timeout) { channel, decision in
                            guard decision == .http2 else {
                                finish(.failure(UpstreamRefusedHTTP2()))
                                throw UpstreamRefusedHTTP2()
                            }
                            try configure(channel)
                        })
                    } else {
                        try configure(channel)
                    }
                } catch {
                    finish(.failure(error))
                    channel.close(promise: nil)
                }
            }
        }
    }

    private static func addHTTP2Handlers(_ channel: any Channel, key: UpstreamEndpoint.Key, idleTimeout: TimeAmount) throws -> HTTP2UpstreamConnection {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            HTTP2Setting(parameter: .enablePush, value: 0),
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 0),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 64 * 1024),
        ]
        let handler = NIOHTTP2Handler(mode: .client, eventLoop: channel.eventLoop, connectionConfiguration: configuration, streamConfiguration: .init()) { stream in
            // The upstream may not open streams (push is off): refuse any.
            stream.close()
        }
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(handler)
        let watcher = HTTP2UpstreamGoAwayWatcher()
        try sync.addHandler(watcher)
        let connection = HTTP2UpstreamConnection(channel: channel, key: key, multiplexer: try handler.syncMultiplexer(), idleTimeout: idleTimeout)
        watcher.onGoAway = { [weak connection] in connection?.receivedGoAway() }
        return connection
    }
}
