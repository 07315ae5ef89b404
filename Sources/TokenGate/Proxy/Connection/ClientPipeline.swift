import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOSSL

/// Sets up an accepted client connection's pipeline for its protocol: HTTP/1.1 (NIO's
/// decoder and a `ProxyHandler`), or HTTP/2 (NIO's connection handler, with a stream
/// codec and a `ProxyHandler` per stream), over TLS or not.
enum ClientPipeline {
    /// What one connection's pipeline is made from: the listener's settings as of its
    /// accept, and what every connection of the listener shares.
    struct Parts {
        let settings: ListenerConfig
        let environment: ListenerEnvironment
        let acceptedOn: BindAddress
        /// Counts an HTTP/2 connection's streams against the listener's connection limit.
        let streams: StreamAdmission
        /// The client certificate the handshake verified (a TLS listener with `client_ca_file`).
        var clientCertificate: ClientCertificateIdentity?
    }

    /// An HTTP/2 stream holds an upstream connection as an HTTP/1 connection does, so the
    /// streams a connection runs at once count against the listener's `max_connections`
    /// (and the descriptor budget behind it, two descriptors a connection): its own slot
    /// covers one stream, and each stream beside it takes a slot of its own. Without this,
    /// one client connection could hold `max_concurrent_streams` upstream sockets, and a
    /// few of them every descriptor the process has. A stream over the limit is refused
    /// with RST_STREAM(REFUSED_STREAM), which tells the client it was not processed and may
    /// be sent again (RFC 9113 §8.7). The limit is the listener's as configured now.
    struct StreamAdmission: Sendable {
        let tracker: ConnectionTracker
        let trackingName: String
        let environment: ListenerEnvironment
        /// The descriptor budget, read once per bind.
        let budget: Int

        func reserve() -> Bool {
            let configured = environment.snapshots.current.planner(forListener: environment.name)?.listener.maxConnections ?? budget
            return tracker.reserveStreamSlot(listener: trackingName, limit: min(configured, budget))
        }

        func release() {
            tracker.releaseStreamSlot(listener: trackingName)
        }
    }

    /// Everything below the tracker's admission: TLS when the listener has a certificate,
    /// then the protocol (decided at once, or by ALPN or the first bytes).
    static func configure(_ channel: any Channel, _ parts: Parts, certificate: ServingCertificate?) throws {
        let sync = channel.pipeline.syncOperations
        let settings = parts.settings
        if let certificate {
            try sync.addHandler(NIOSSLServerHandler(context: certificate.context))
            try sync.addHandler(TLSWriteCoalescer())
            // ALPN decides (HTTP/1.1 when the client offers nothing), within the head timeout.
            let asksForCertificates = settings.tls?.clientCAFile != nil
            try sync.addHandler(ProtocolSelector(mode: .alpn, deadline: TimeAmount(settings.headerReadTimeout)) { channel, decision in
                var parts = parts
                if asksForCertificates { parts.clientCertificate = ClientCertificateIdentity.verified(on: channel) }
                try configure(channel, parts, decision: settings.http2 ? decision : .http1)
            })
        } else if settings.h2c {
            try sync.addHandler(ProtocolSelector(mode: .preface, deadline: TimeAmount(settings.headerReadTimeout)) { channel, decision in
                try configure(channel, parts, decision: decision)
            })
        } else {
            try configureHTTP1(channel, parts)
        }
    }

    private static func configure(_ channel: any Channel, _ parts: Parts, decision: ProtocolSelector.Decision) throws {
        switch decision {
        case .http1: try configureHTTP1(channel, parts)
        case .http2: try configureHTTP2(channel, parts)
        }
    }

    /// NIO's llhttp decoder parses requests (and tells the handler when a head begins, for
    /// its timeout); the proxy handler writes (and checks) the response bytes itself.
    static func configureHTTP1(_ channel: any Channel, _ parts: Parts) throws {
        let settings = parts.settings
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = settings.maxHeaderBytes
        limits.maxHeaderFieldSize = settings.maxHeaderBytes
        limits.maxHeaderFieldCount = settings.maxHeaderCount + 1
        let sync = channel.pipeline.syncOperations
        let handler = ProxyHandler(
            environment: parts.environment, headTimeout: TimeAmount(settings.headerReadTimeout),
            idleTimeout: TimeAmount(settings.idleTimeout), acceptedOn: parts.acceptedOn, clientCertificate: parts.clientCertificate
        )
        try sync.addHandler(ByteToMessageHandler(RequestHeadDecoder(observer: handler, leftOverBytesStrategy: .dropBytes, limits: limits)))
        try sync.addHandler(handler)
        parts.environment.connections.http1.increment()
    }

    /// NIO's HTTP/2 connection handler, with the listener's limits, and a stream codec and
    /// a proxy handler for each stream the client opens. NIO also defends the connection:
    /// rapid resets (CVE-2023-44487), CONTINUATION floods, SETTINGS, PING and empty-DATA
    /// floods and other "glitches" end it with GOAWAY, then the connection closes; a connection with no stream for the
    /// idle timeout, or asked to quiesce (shutdown, a listener that moved), sends GOAWAY
    /// and closes once its streams are done.
    static func configureHTTP2(_ channel: any Channel, _ parts: Parts) throws {
        let settings = parts.settings
        let environment = parts.environment
        let acceptedOn = parts.acceptedOn
        let clientCertificate = parts.clientCertificate
        let slots = NIOLoopBound(HTTP2StreamSlots(admission: parts.streams), eventLoop: channel.eventLoop)
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: settings.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: settings.maxHeaderBytes),
            HTTP2Setting(parameter: .maxFrameSize, value: 1 << 14),
        ]
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            // A graceful close (shutdown, a moved listener) gives open streams the idle
            // timeout to finish once the client has acknowledged GOAWAY's PING.
            configuration: .init(maxIdleTime: TimeAmount(settings.idleTimeout), maxAge: nil, maxGraceTime: TimeAmount(settings.idleTimeout), keepalive: nil)
        )
        let headTimeout = TimeAmount(settings.headerReadTimeout)
        let idleTimeout = TimeAmount(settings.idleTimeout)
        let streamTimers = NIOLoopBound(DeadlineTimerPool(eventLoop: channel.eventLoop, capacity: DeadlineTimerPool.defaultCapacity), eventLoop: channel.eventLoop)
        let idleCloser = HTTP2IdleCloser(idleTimeout: idleTimeout, streamTimers: streamTimers.value)
        let handler = NIOHTTP2Handler(
            mode: .server, eventLoop: channel.eventLoop, connectionConfiguration: connection, streamConfiguration: .init(),
            streamDelegate: HTTP2IdleCloser.Streams(manager: manager.http2StreamDelegate, closer: NIOLoopBound(idleCloser, eventLoop: channel.eventLoop))
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                let sync = stream.pipeline.syncOperations
                guard slots.value.admit() else {
                    environment.telemetry.metrics.connectionRefused(listener: environment.name)
                    try sync.addHandler(RefusedStream())
                    return
                }
                stream.closeFuture.whenComplete { _ in slots.value.streamEnded() }
                try sync.addHandler(HTTP2StreamCodec())
                try sync.addHandler(ProxyHandler(
                    environment: environment, headTimeout: headTimeout, idleTimeout: idleTimeout, acceptedOn: acceptedOn, servesHTTP2Stream: true,
                    clientCertificate: clientCertificate, streamTimers: streamTimers.value
                ))
                environment.connections.http2Streams.increment()
            }
        }
        let sync = channel.pipeline.syncOperations
        let observer = HTTP2GoAwayObserver()
        try sync.addHandler(observer)
        try sync.addHandler(handler)
        try sync.addHandler(manager)
        // A connection error (a flood, a protocol violation) has had its GOAWAY: close.
        try sync.addHandler(HTTP2ErrorCloser(observer: observer))
        try sync.addHandler(idleCloser)
        // These handlers join an active connection (after ALPN or the preface), so the
        // connection manager never saw channelActive, where it starts its idle timer: a
        // client that sent a preface and nothing else would hold its slot for ever.
        // Given from NIO's handler's place, it reaches the manager and what follows only.
        if channel.isActive { try sync.context(handler: handler).fireChannelActive() }
        environment.connections.http2.increment()
    }
}
