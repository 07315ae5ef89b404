import NIOCore
import NIOEmbedded
import Testing
@testable import TokenGate

/// One route, `/api/` to an upstream at its root with a 5 s idle timeout; the embedded
/// connector ignores the address.
private let apiRoute = """
{ "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
  "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "strip_prefix": true,
                "upstream": "http://127.0.0.1:9/", "timeouts": { "idle_seconds": 5 } } ] }
"""

/// A WebSocket opening handshake (RFC 6455 §1.3's key) and the 101 that completes it.
private let webSocketRequest = "GET /api/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
private let switchingProtocols = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

/// The proxy handler driven end to end in `EmbeddedChannel`s: the client connection and
/// its upstream connections share one embedded loop, and every assertion is about the
/// bytes one side sends the other, or whether a side is read or open.
@Suite("The proxy end to end, without sockets")
struct ProxyEmbeddedFlowTests {
    // MARK: Forwarding

    @Test("a request reaches the upstream as the gateway rewrites it, its body behind it, and the answer reaches the client byte for byte")
    func forwards() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send(
            "POST /api/items?q=1 HTTP/1.1\r\nHost: gateway.example\r\nContent-Length: 5\r\nConnection: keep-alive, X-Hop\r\n"
                + "X-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-Custom: kept\r\nX-Request-Id: req-1\r\n\r\nhello"
        )
        let upstream = try #require(proxy.upstream(0))
        let request = try upstream.received()
        #expect(request.hasPrefix("POST /items?q=1 HTTP/1.1\r\n"), "the prefix is stripped, the query kept")
        let expected = [
            "X-Custom: kept", "Host: 127.0.0.1:9", "X-Forwarded-For: 127.0.0.1", "X-Forwarded-Proto: http",
            "X-Forwarded-Host: gateway.example", "X-Request-Id: req-1", "Content-Length: 5",
        ]
        #expect(!expected.isEmpty)
        for line in expected {
            #expect(request.contains("\r\n\(line)\r\n"), "the upstream gets \(line)")
        }
        let hopByHop = ["X-Hop:", "Keep-Alive:", "Connection:"]
        #expect(!hopByHop.isEmpty)
        for field in hopByHop {
            #expect(!request.contains("\r\n\(field)"), "\(field) is hop-by-hop: never forwarded")
        }
        #expect(request.hasSuffix("\r\n\r\nhello"), "the body follows the head")

        let answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Upstream: yes\r\n\r\nworld"
        try upstream.respond(answer)
        #expect(try proxy.received() == answer)

        // Keep-alive on both sides: the next request goes over the same upstream connection.
        try proxy.send("GET /api/again HTTP/1.1\r\nHost: gateway.example\r\n\r\n")
        #expect(proxy.connections.count == 1)
        #expect(try upstream.received().hasPrefix("GET /again HTTP/1.1\r\n"))
        try upstream.respond("HTTP/1.1 204 No Content\r\n\r\n")
        #expect(try proxy.received() == "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(proxy.client.isActive)
    }

    // MARK: Backpressure

    @Test("a request body is read from the client only while the upstream can take it: reads stop while its connection is full and resume as it drains")
    func requestBodyBackpressure() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send("POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234")
        let upstream = try #require(proxy.upstream(0))
        #expect(try upstream.received().hasSuffix("\r\n\r\n01234"))
        let before = proxy.clientReads.count
        proxy.client.read()
        #expect(proxy.clientReads.count == before + 1, "the client is read while the upstream takes bytes")

        upstream.channel.isWritable = false
        upstream.channel.pipeline.fireChannelWritabilityChanged()
        proxy.client.read()
        #expect(proxy.clientReads.count == before + 1, "not read while the upstream connection is full")

        upstream.channel.isWritable = true
        upstream.channel.pipeline.fireChannelWritabilityChanged()
        #expect(proxy.clientReads.count == before + 2, "the read held back goes out once it drains")

        try proxy.send("56789")
        #expect(try upstream.received() == "56789")
        try upstream.respond("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        #expect(try proxy.received() == "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    }

    @Test("a response is read from the upstream only while the client can take it: reads stop while the client is full and resume as it drains")
    func responseBodyBackpressure() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send("GET /api/big HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(proxy.upstream(0))
        #expect(try upstream.received().hasPrefix("GET /big HTTP/1.1\r\n"))
        try upstream.respond("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
        #expect(try proxy.received() == "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
        let before = upstream.reads.count
        upstream.channel.read()
        #expect(upstream.reads.count == before + 1, "the upstream is read while the client takes bytes")

        proxy.client.isWritable = false
        proxy.client.pipeline.fireChannelWritabilityChanged()
        upstream.channel.read()
        #expect(upstream.reads.count == before + 1, "not read while the client's connection is full")

        proxy.client.isWritable = true
        proxy.client.pipeline.fireChannelWritabilityChanged()
        #expect(upstream.reads.count == before + 2, "the read held back goes out once the client drains")

        try upstream.respond("56789")
        #expect(try proxy.received() == "56789")
    }

    // MARK: Retries

    @Test("an upstream 401 that blames the injected token: the gateway fetches a new token and replays the request, body included; the client sees only the replay's answer")
    @MainActor  // the embedded loop is bound to the thread it was made on; awaits must come back to it
    func unauthorizedReplay() async throws {
        let setup = try await OutboundSetup.start()
        let gateway = setup.gateway.gateway
        let found = gateway.running.withLockedValue { $0.profiles.credentials["billing"] }
        let profile = try #require(found)
        let initial = await settledToken(of: profile)
        let first = try #require(initial, "the profile obtains its first token")
        let proxy = try EmbeddedProxy(snapshots: gateway.snapshots, telemetry: gateway.telemetry)
        defer { proxy.finish() }

        let body = #"{"n":12345}"#
        try proxy.send("POST /api/orders HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let refusing = try #require(proxy.upstream(0))
        let header = profile.config.headerName
        let sent = try refusing.received()
        #expect(sent.contains("\r\n\(header): \(first.headerValue.revealed)\r\n"))
        #expect(sent.hasSuffix("\r\n\r\n\(body)"))

        // The 401's head first and its body later, as over a network: the refused token is
        // dropped at the head and the control plane fetches the next one meanwhile.
        try refusing.respond("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error=\"invalid_token\"\r\nContent-Length: 6\r\n\r\n")
        let fetched = await settledToken(of: profile)
        let second = try #require(fetched, "a new token is fetched")
        #expect(second.value != first.value)
        try refusing.respond("denied")

        let replay = try #require(try proxy.nextRequest(), "the request is sent again")
        #expect(replay.text.hasPrefix("POST /orders HTTP/1.1\r\n"))
        #expect(replay.text.contains("\r\n\(header): \(second.headerValue.revealed)\r\n"), "with the new token")
        #expect(!replay.text.contains(first.value.revealed), "and never the refused one")
        #expect(replay.text.hasSuffix("\r\n\r\n\(body)"), "with the body it had")
        try replay.upstream.respond("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        #expect(try proxy.received() == "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", "the 401 never reaches the client")
        await setup.stop()
    }

    @Test("a pooled connection the upstream closes as the next request goes out: the idempotent request is sent again on a new connection and the client sees one answer")
    func staleConnectionRetried() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        let pooled = try servedOnce(proxy)
        try proxy.send("GET /api/b HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try pooled.received().hasPrefix("GET /b HTTP/1.1\r\n"), "the kept connection carries it")
        pooled.close()
        let fresh = try #require(proxy.upstream(1), "a new connection is opened")
        #expect(try fresh.received().hasPrefix("GET /b HTTP/1.1\r\n"))
        try fresh.respond("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
        #expect(try proxy.received() == "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
        #expect(proxy.client.isActive)
    }

    @Test("a POST on a pooled connection the upstream closes is never sent twice: the client gets a 502")
    func staleConnectionNotRetriedForPost() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        let pooled = try servedOnce(proxy)
        try proxy.send("POST /api/b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        #expect(try pooled.received().hasSuffix("\r\n\r\nhi"))
        pooled.close()
        let answer = try proxy.received()
        #expect(answer.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        #expect(answer.contains(#""error":"upstream_error""#))
        #expect(proxy.connections.count == 1, "no second connection")
    }

    /// Serves `GET /api/a` over the first upstream connection, which goes back to the pool.
    private func servedOnce(_ proxy: EmbeddedProxy) throws -> EmbeddedUpstream {
        try proxy.send("GET /api/a HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(proxy.upstream(0))
        #expect(try upstream.received().hasPrefix("GET /a HTTP/1.1\r\n"))
        try upstream.respond("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        #expect(try proxy.received() == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        return upstream
    }

    // MARK: 100-continue

    @Test("Expect: 100-continue: the gateway answers 100 Continue once the request is admitted, forwards the head without Expect, then the body")
    func continueAfterAdmission() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send("POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        #expect(try proxy.received() == "HTTP/1.1 100 Continue\r\n\r\n")
        let upstream = try #require(proxy.upstream(0))
        let head = try upstream.received()
        #expect(head.hasPrefix("POST /upload HTTP/1.1\r\n"))
        #expect(head.hasSuffix("\r\n\r\n"), "the head alone: the client has sent no body yet")
        #expect(!head.lowercased().contains("\r\nexpect:"), "the gateway met the expectation itself")
        try proxy.send("hello")
        #expect(try upstream.received() == "hello")
        try upstream.respond("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        #expect(try proxy.received() == "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    }

    @Test("Expect: 100-continue on a request the gateway refuses: no 100 Continue, and no upstream is asked")
    func noContinueForRefusal() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send("POST /elsewhere HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let answer = try proxy.received()
        #expect(answer.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(!answer.contains("100 Continue"))
        #expect(proxy.connections.isEmpty)
    }

    // MARK: Upgrades

    @Test("a WebSocket upgrade the upstream completes: the client gets the 101, then bytes flow raw both ways, the upstream's early ones included")
    func webSocketTunnel() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        let upstream = try openTunnel(proxy, early: "EARLY")
        let opened = try proxy.received()
        #expect(opened.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(opened.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
        #expect(opened.hasSuffix("\r\n\r\nEARLY"), "bytes the upstream sent right behind its 101 follow it")
        // HTTP is over: what looks like a request passes untouched, and so does the answer.
        try proxy.send("GET /not-parsed HTTP/1.1\r\n\r\n\u{1}ping")
        #expect(try upstream.received() == "GET /not-parsed HTTP/1.1\r\n\r\n\u{1}ping")
        try upstream.respond("\u{2}pong")
        #expect(try proxy.received() == "\u{2}pong")
        #expect(proxy.client.isActive)
        #expect(upstream.channel.isActive)
    }

    @Test("a 101 whose Sec-WebSocket-Accept does not match the key: a 502 and both connections closed, never a tunnel")
    func wrongAcceptRefused() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send(webSocketRequest)
        let upstream = try #require(proxy.upstream(0))
        _ = try upstream.received()
        try upstream.respond("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n")
        proxy.loop.run()
        let answer = try proxy.received()
        #expect(answer.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        #expect(!answer.contains("Switching Protocols"))
        #expect(!proxy.client.isActive)
        #expect(!upstream.channel.isActive)
    }

    /// Opens a WebSocket tunnel through `proxy`; `early` follows the upstream's 101 in the
    /// same read. The HTTP handlers leave both pipelines on the loop's next tick.
    private func openTunnel(_ proxy: EmbeddedProxy, early: String = "") throws -> EmbeddedUpstream {
        try proxy.send(webSocketRequest)
        let upstream = try #require(proxy.upstream(0))
        let request = try upstream.received()
        #expect(request.hasPrefix("GET /ws HTTP/1.1\r\n"))
        #expect(request.contains("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"))
        #expect(request.contains("\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"))
        try upstream.respond(switchingProtocols + early)
        proxy.loop.run()
        return upstream
    }

    // MARK: Closing, with deadlines

    @Test("a response that ends the connection, to a client that stops reading it: closed once the listener's idle timeout passes")
    func closingResponseToNonReader() throws {
        let proxy = try EmbeddedProxy(config: apiRoute, idleTimeout: .seconds(10))
        defer { proxy.finish() }
        try proxy.send("GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        let upstream = try #require(proxy.upstream(0))
        _ = try upstream.received()
        proxy.clientWrites.holding = true
        try upstream.respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(proxy.clientWrites.heldText.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(proxy.clientWrites.heldText.contains("\r\nConnection: close\r\n"))
        #expect(proxy.client.isActive, "its last bytes get the idle timeout to leave")
        proxy.loop.advanceTime(by: .milliseconds(9_900))
        #expect(proxy.client.isActive)
        proxy.loop.advanceTime(by: .milliseconds(100))
        #expect(!proxy.client.isActive, "closed although the client never read them")
    }

    @Test("a keep-alive connection that sends nothing after its answer is closed once the listener's idle timeout passes")
    func idleKeepAliveCloses() throws {
        let proxy = try EmbeddedProxy(config: apiRoute, idleTimeout: .seconds(10))
        defer { proxy.finish() }
        try proxy.send("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(proxy.upstream(0))
        _ = try upstream.received()
        try upstream.respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(try proxy.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
        proxy.loop.advanceTime(by: .milliseconds(9_900))
        #expect(proxy.client.isActive, "within the keep-alive timeout it stays open")
        proxy.loop.advanceTime(by: .milliseconds(100))
        #expect(!proxy.client.isActive, "closed once the idle timeout passed, with nothing written")
        #expect(try proxy.received().isEmpty)
    }

    @Test("an upstream that answers before the request body is complete: the client gets it with Connection: close, the rest of its body goes nowhere, and a client that does not read is closed after the 2 s lingering time")
    func earlyAnswerLingers() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        try proxy.send("POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        let upstream = try #require(proxy.upstream(0))
        #expect(try upstream.received().hasSuffix("\r\n\r\n0123456789"))
        proxy.clientWrites.holding = true
        try upstream.respond("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        #expect(proxy.clientWrites.heldText.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        #expect(proxy.clientWrites.heldText.contains("\r\nConnection: close\r\n"))
        #expect(!upstream.channel.isActive, "the upstream connection ends: the rest of the body has nowhere to go")
        try proxy.send("more of the body")
        #expect(try upstream.received().isEmpty)
        #expect(proxy.client.isActive, "the client may still be sending: the gateway lingers")
        proxy.loop.advanceTime(by: .milliseconds(1_900))
        #expect(proxy.client.isActive)
        proxy.loop.advanceTime(by: .milliseconds(100))
        #expect(!proxy.client.isActive, "closed when the lingering time is over")
    }

    @Test("a tunnel whose upstream ends while the client is not reading: the client side closes once the route's idle timeout passes")
    func tunnelEndToNonReader() throws {
        let proxy = try EmbeddedProxy(config: apiRoute)
        defer { proxy.finish() }
        let upstream = try openTunnel(proxy)
        #expect(try proxy.received().hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        proxy.clientWrites.holding = true
        try upstream.respond("last words")
        #expect(proxy.clientWrites.heldText == "last words")
        upstream.close()
        #expect(proxy.client.isActive, "the client gets the route's idle timeout (5 s) to read the last bytes")
        proxy.loop.advanceTime(by: .milliseconds(4_900))
        #expect(proxy.client.isActive)
        proxy.loop.advanceTime(by: .milliseconds(100))
        #expect(!proxy.client.isActive, "then the tunnel is closed on its side too")
    }
}

/// `profile`'s token: at once when it has a usable one, else when the control plane's
/// fetch under way settles (the profile calls back; no polling). Nil when none comes.
private func settledToken(of profile: CredentialProfile) async -> TokenState.Token? {
    let lookup = await withCheckedContinuation { (continuation: CheckedContinuation<CredentialProfile.Lookup, Never>) in
        let now = profile.lookup { outcome in continuation.resume(returning: outcome) }
        if case .pending = now { return }
        continuation.resume(returning: now)
    }
    guard case .ready(let token) = lookup else { return nil }
    return token
}
