import NIOCore

/// Opens the connections an `UpstreamPool` asks for: the one place where forwarding meets
/// sockets.
///
/// The pool decides when a connection is needed (none idle, or a fresh one for a retry);
/// the connector only makes it. `BootstrapUpstreamConnector` is the one a running gateway
/// uses; tests hand out `EmbeddedChannel`s instead, so the proxy handler can be driven end
/// to end (forwarding, retries, upgrades, deadlines) without a socket. It is called once
/// per new upstream connection, never per request.
protocol UpstreamConnector: Sendable {
    /// A connection to `endpoint`, made on `eventLoop` (the client connection's loop, so
    /// both sides call each other directly), whose pipeline ends with the upstream HTTP
    /// handlers (`addUpstreamHTTPHandlers()`, behind TLS when the endpoint uses it). The
    /// future is `eventLoop`'s and fails when no connection is made within `timeout`.
    func connect(to endpoint: UpstreamEndpoint, timeout: TimeAmount, on eventLoop: any EventLoop) -> EventLoopFuture<any Channel>

    /// A connection to `endpoint` that carries bytes only (TCP, and TLS when the endpoint
    /// uses it), for an HTTP/2 upstream: `UpstreamPool` adds the HTTP/2 handlers.
    func connectTransport(to endpoint: UpstreamEndpoint, timeout: TimeAmount, on eventLoop: any EventLoop) -> EventLoopFuture<any Channel>
}

extension UpstreamConnector {
    /// Connectors of tests that speak HTTP/1 only.
    func connectTransport(to endpoint: UpstreamEndpoint, timeout: TimeAmount, on eventLoop: any EventLoop) -> EventLoopFuture<any Channel> {
        eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// The handlers every upstream connection ends with, whatever carries its bytes. The
    /// gateway writes (and checks) the request bytes itself; NIO's llhttp decoder parses the
    /// response. Bytes an upstream sends right behind a 101 belong to the tunnel: the
    /// decoder hands them on when the tunnel removes it.
    func addUpstreamHTTPHandlers() throws {
        let decoder = UpstreamResponseDecoder(leftOverBytesStrategy: .forwardBytes)
        try addHandler(ByteToMessageHandler(decoder))
        try addHandler(UpstreamHandler(decoder: decoder.decoder, tail: decoder.tail))
    }
}
