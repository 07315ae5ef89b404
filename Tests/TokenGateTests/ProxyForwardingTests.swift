import Testing
import TokenGateSandbox

@Suite("Forwarding through the proxy")
struct ProxyForwardingTests {
    @Test("method, path, query, headers and body reach the upstream intact; hop-by-hop headers do not")
    func forwardsRequestIntact() async throws {
        try await withProxy(prefix: "/api/", stripPrefix: true) { gateway, echo in
            let client = try await gateway.connect()
            let body = #"{"invoice":42}"#
            try await client.send(
                "PATCH /api/invoices/42?expand=lines&x=%20y HTTP/1.1\r\nHost: gateway.local\r\n"
                    + "Content-Type: application/json\r\nX-Custom: kept\r\nConnection: keep-alive, X-Secret-Hop\r\n"
                    + "X-Secret-Hop: dropped\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n"
                    + "Upgrade: websocket\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            let response = try #require(try await client.readResponse())
            #expect(response.status == 200)
            let seen = try #require(EchoReport(response))
            #expect(seen.method == "PATCH")
            #expect(seen.path == "/invoices/42")
            #expect(seen.query == "expand=lines&x=%20y")
            #expect(seen.body == body)
            #expect(seen.header("content-type") == "application/json")
            #expect(seen.header("x-custom") == "kept")
            #expect(seen.header("host") == "127.0.0.1:\(echo.port)")
            for hop in ["x-secret-hop", "keep-alive", "te", "proxy-authorization", "upgrade", "transfer-encoding"] {
                #expect(seen.header(hop) == nil, "\(hop) must not be forwarded")
            }
            #expect(seen.header("x-forwarded-for") == "127.0.0.1")
            #expect(seen.header("x-forwarded-proto") == "http")
            #expect(seen.header("x-forwarded-host") == "gateway.local")
            await client.close()
        }
    }

    @Test("keep-alive: several requests on one client connection, answered in order")
    func keepAliveAndPipelining() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            // Three pipelined requests in one write.
            try await client.send((1...3).map { "GET /n/\($0) HTTP/1.1\r\nHost: a\r\n\r\n" }.joined())
            for expected in 1...3 {
                let response = try #require(try await client.readResponse())
                #expect(EchoReport(response)?.path == "/n/\(expected)")
            }
            await client.close()
        }
    }

    @Test("a forged X-Forwarded-For from an untrusted client is replaced, even when Connection names it")
    func forwardingHeadersCannotBeForged() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            try await client.send(
                "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.9.9.9\r\nX-Forwarded-Proto: https\r\n"
                    + "Forwarded: for=10.9.9.9\r\nConnection: X-Forwarded-For, X-Forwarded-Host\r\n\r\n"
            )
            let seen = try await client.readEcho()
            #expect(seen.values("x-forwarded-for") == ["127.0.0.1"])
            #expect(seen.header("x-forwarded-proto") == "http")
            #expect(seen.header("x-forwarded-host") == "a")
            #expect(seen.header("forwarded") == nil)
            await client.close()
        }
    }

    @Test("X-Forwarded-For from a trusted proxy is extended, not replaced")
    func trustedProxyChainIsKept() async throws {
        try await withProxy(listenerExtras: #", "trusted_proxies": ["127.0.0.0/8"]"#) { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n\r\n")
            let seen = try await client.readEcho()
            #expect(seen.header("x-forwarded-for") == "203.0.113.7, 127.0.0.1")
            #expect(seen.header("x-forwarded-proto") == "https")
            await client.close()
        }
    }

    @Test("preserve_host sends the client's Host to the upstream")
    func preserveHost() async throws {
        try await withProxy(routeExtras: #", "preserve_host": true"#) { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("GET / HTTP/1.1\r\nHost: app.example:8080\r\n\r\n")
            let seen = try await client.readEcho()
            #expect(seen.header("host") == "app.example:8080")
            await client.close()
        }
    }

    @Test("a chunked request body streams: the upstream has the first chunk before the client sends the last")
    func chunkedRequestStreams() async throws {
        try await withProxy { gateway, echo in
            let client = try await gateway.connect()
            try await client.send("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            #expect(await eventually { echo.bodyBytesReceived >= 5 })
            #expect(echo.bodyBytesReceived == 5, "the first chunk should reach the upstream on its own")
            try await client.send("4\r\nlast\r\n0\r\n\r\n")
            let seen = try await client.readEcho()
            #expect(seen.body == "firstlast")
            #expect(seen.header("transfer-encoding") == "chunked")
            await client.close()
        }
    }

    @Test("a chunked response of unknown length streams back whole")
    func chunkedResponseStreams() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            let size = 3 * 1024 * 1024 + 17
            try await client.send("GET /download HTTP/1.1\r\nHost: a\r\nX-Echo-Response-Bytes: \(size)\r\nX-Echo-Chunked: 1\r\n\r\n")
            let response = try #require(try await client.readResponse())
            #expect(response.status == 200)
            #expect(response.header("transfer-encoding") == "chunked")
            #expect(response.body.count == size)
            await client.close()
        }
    }

    @Test("a 64 MiB upload passes through whole")
    func largeUpload() async throws {
        try await withProxy(routeExtras: #", "max_body_bytes": 100000000"#) { gateway, echo in
            let client = try await gateway.connect()
            let piece = [UInt8](repeating: UInt8(ascii: "z"), count: 1 << 20)
            try await client.send("PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: \(64 << 20)\r\n\r\n")
            for _ in 0..<64 { try await client.send(bytes: piece) }
            let seen = try await client.readEcho(timeout: .seconds(60))
            #expect(seen.bodyBytes == 64 << 20)
            #expect(echo.bodyBytesReceived == 64 << 20)
            await client.close()
        }
    }

    @Test("bytes an upstream sends behind a complete response never answer the next request: that connection is closed, not reused")
    func unaskedBytesCloseTheUpstreamConnection() async throws {
        let upstream = try await ScriptedUpstream.start { head in
            head.hasPrefix("GET /first")
                ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
                : "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"
        }
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: upstream.port))
        let client = try await gateway.connect()
        // Pipelined: the second request is taken while the first response's read is still
        // being decoded, the moment an unasked answer could be handed to it.
        try await client.send("GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n")
        let first = try #require(try await client.readResponse())
        let second = try #require(try await client.readResponse())
        #expect(first.bodyText == "ok")
        #expect(second.status == 200)
        #expect(second.bodyText == "real", "the second request got the upstream's answer to it")
        #expect(upstream.received.contains { $0.hasPrefix("GET /second") })
        await client.close()
        await gateway.stop()
        await upstream.stop()
    }

    @Test("the start of an answer nobody asked for, behind a complete response, closes that upstream connection: the next request gets its own answer")
    func partialUnaskedHeadClosesTheUpstreamConnection() async throws {
        let upstream = try await ScriptedUpstream.start { head in
            head.hasPrefix("GET /first")
                ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-A: "
                : "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"
        }
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: upstream.port))
        let client = try await gateway.connect()
        try await client.send("GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try await client.readResponse()?.bodyText == "ok")
        // Not pipelined: the upstream connection would be back in the pool by now.
        try await client.send("GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
        let second = try #require(try await client.readResponse())
        #expect(second.status == 200)
        #expect(second.bodyText == "real")
        #expect(second.header("x-a") == nil)
        await client.close()
        await gateway.stop()
        await upstream.stop()
    }
}
