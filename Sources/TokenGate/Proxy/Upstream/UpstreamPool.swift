import NIOCore

/// Keep-alive upstream connections for one event loop. Client connections on this loop
/// borrow from it, so the client and upstream channels call each other directly. Only
/// ever touched on its own event loop.
final class UpstreamPool {
    let eventLoop: any EventLoop
    /// Opens new connections: sockets in a running gateway, `EmbeddedChannel`s in tests.
    /// One existential call per new connection, none per request.
    let connector: any UpstreamConnector
    /// Most idle connections kept per upstream; more are closed on release.
    let maxIdlePerEndpoint: Int
    /// How long an unused connection stays open. Short, because upstreams close idle
    /// connections on their own schedule (Node.js after 5 s) and a connection they closed
    /// is only found dead when the next request is sent on it.
    let idleTimeout: TimeAmount
    /// Idle connections per upstream, most recently used last (taken first).
    private var idle: [UpstreamEndpoint.Key: IdleList] = [:]
    /// One timer for the whole pool, due when the longest-idle connection expires; nil
    /// while no connection is idle. Releasing a connection costs no timer of its own.
    private var sweep: LazyDeadlineTimer?
    private var sweepDue: NIODeadline?
    /// `closeIdle` ran: nothing is kept any more.
    private var closed = false
    /// HTTP/2 upstreams: the one connection per endpoint that carries their streams, and
    /// the exchanges waiting while it connects (`UpstreamPool+HTTP2`).
    var http2Connections: [UpstreamEndpoint.Key: HTTP2UpstreamConnection] = [:]
    var http2Waiters: [UpstreamEndpoint.Key: [(Result<UpstreamConnection, any Error>) -> Void]] = [:]

    /// A mutable list in the dictionary: taken from and added to without copying.
    private final class IdleList {
        var connections: [UpstreamConnection] = []
    }

    static let defaultIdleTimeout = TimeAmount.seconds(4)

    init(
        eventLoop: any EventLoop, connector: any UpstreamConnector = BootstrapUpstreamConnector(), maxIdlePerEndpoint: Int = 256,
        idleTimeout: TimeAmount = defaultIdleTimeout
    ) {
        self.eventLoop = eventLoop
        self.connector = connector
        self.maxIdlePerEndpoint = maxIdlePerEndpoint
        self.idleTimeout = idleTimeout
    }

    /// A pooled connection when one is idle (unless `fresh`), otherwise a new one.
    func acquire(
        _ endpoint: UpstreamEndpoint,
        connectTimeout: TimeAmount,
        fresh: Bool,
        _ completion: @escaping (Result<UpstreamConnection, any Error>) -> Void
    ) {
        eventLoop.assertInEventLoop()
        if endpoint.key.http2 {
            acquireStream(endpoint, connectTimeout: connectTimeout, fresh: fresh, completion)
            return
        }
        if !fresh, let list = idle[endpoint.key] {
            while let connection = list.connections.popLast() {
                if connection.channel.isActive {
                    completion(.success(connection))
                    return
                }
            }
        }
        connect(endpoint, timeout: connectTimeout, completion)
    }

    /// Returns a connection after a complete exchange; it stays open for the next one.
    /// A response usually ends inside a read, while the decoder may still hold bytes behind
    /// it: then the connection becomes idle only once that read is complete, and bytes
    /// nobody asked for close it instead of answering whoever borrows it next.
    func release(_ connection: UpstreamConnection) {
        eventLoop.assertInEventLoop()
        connection.handler.delegate = nil
        if connection.isHTTP2Stream {
            // Its exchange is over; the stream closes (it has already, once both ends ended).
            connection.close()
            return
        }
        if connection.handler.isReading {
            connection.handler.releaseAfterRead(to: self, connection)
        } else {
            admit(connection)
        }
    }

    /// Makes `connection` idle, ready for the next exchange (or closes it if it is dead,
    /// the endpoint has enough idle ones, or the pool was closed for shutdown).
    func admit(_ connection: UpstreamConnection) {
        guard !closed else {
            connection.close()
            return
        }
        let list: IdleList
        if let existing = idle[connection.key] {
            list = existing
        } else {
            list = IdleList()
            idle[connection.key] = list
        }
        guard connection.channel.isActive, list.connections.count < maxIdlePerEndpoint else {
            connection.close()
            return
        }
        connection.isReused = true
        connection.idleSince = .now()
        list.connections.append(connection)
        if sweepDue == nil { armSweep(at: connection.idleSince + idleTimeout) }
    }

    /// Closes every idle connection (shutdown, tests); connections given back later are
    /// closed too (one still finishing its read would otherwise be admitted after this).
    func closeIdle() {
        eventLoop.assertInEventLoop()
        closed = true
        let all = idle.values.flatMap(\.connections)
        idle.removeAll()
        for connection in all { connection.close() }
        for connection in http2Connections.values { connection.channel.close(promise: nil) }
        http2Connections.removeAll()
    }

    /// Drops a connection that closed while idle.
    fileprivate func remove(_ connection: UpstreamConnection) {
        guard let list = idle[connection.key], let index = list.connections.firstIndex(where: { $0 === connection }) else { return }
        list.connections.remove(at: index)
    }

    private func armSweep(at due: NIODeadline) {
        sweepDue = due
        if sweep == nil {
            let timer = LazyDeadlineTimer(eventLoop: eventLoop)
            timer.onExpiry = { [weak self] in self?.sweepIdle() }
            sweep = timer
        }
        sweep?.set(due)
    }

    /// Closes the connections idle for `idleTimeout`, and re-arms for the next to expire.
    private func sweepIdle() {
        sweepDue = nil
        let now = NIODeadline.now()
        var next: NIODeadline?
        for (key, list) in idle {
            var kept: [UpstreamConnection] = []
            for connection in list.connections {
                let expiry = connection.idleSince + idleTimeout
                if expiry <= now {
                    connection.close()
                } else {
                    kept.append(connection)
                    next = min(next ?? expiry, expiry)
                }
            }
            if kept.isEmpty { idle[key] = nil } else { list.connections = kept }
        }
        if let next { armSweep(at: next) }
    }

    private func connect(
        _ endpoint: UpstreamEndpoint,
        timeout: TimeAmount,
        _ completion: @escaping (Result<UpstreamConnection, any Error>) -> Void
    ) {
        let key = endpoint.key
        connector.connect(to: endpoint, timeout: timeout, on: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                do {
                    let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                    let connection = UpstreamConnection(channel: channel, handler: handler, key: key)
                    // Only an idle connection closes without a delegate to tell: the pool drops it.
                    handler.onIdleClose = { [weak self, weak connection] in
                        if let self, let connection { self.remove(connection) }
                    }
                    completion(.success(connection))
                } catch {
                    channel.close(promise: nil)
                    completion(.failure(error))
                }
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }
}
