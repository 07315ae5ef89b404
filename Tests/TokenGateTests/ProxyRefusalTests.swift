import Testing
@testable import TokenGate
import TokenGateSandbox

@Suite("What the proxy refuses, and how it answers")
struct ProxyRefusalTests {
    @Test("no matching route is a 404 JSON error")
    func noRoute() async throws {
        try await withProxy(prefix: "/api/") { gateway, echo in
            let client = try await gateway.connect()
            try await client.send("GET /other HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try #require(try await client.readResponse())
            #expect(response.status == 404)
            #expect(response.header("content-type") == "application/json")
            #expect(gatewayError(response)?.error == "no_route")
            #expect(echo.requestCount == 0)
            await client.close()
        }
    }

    @Test("an unreachable upstream is a 502 JSON error naming the route")
    func unreachableUpstream() async throws {
        // Below the ephemeral range: no port-0 bind of a test running in parallel can take it
        // (a stopped server's ephemeral port could be handed out again at once).
        let deadPort = try await freeLoopbackPort()
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: deadPort))
        let client = try await gateway.connect()
        try await client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(try await client.readResponse())
        #expect(response.status == 502)
        let error = try #require(gatewayError(response))
        #expect(error.error == "upstream_unreachable")
        #expect(error.route == "echo")
        await client.close()
        await gateway.stop()
    }

    @Test("a slow upstream is a 504 JSON error once the response-header timeout passes")
    func slowUpstream() async throws {
        try await withProxy(routeExtras: #", "timeouts": { "response_header_seconds": 0.3 }"#) { gateway, _ in
            let client = try await gateway.connect()
            let started = ContinuousClock.now
            // The upstream would take 20 s; the answer must come long before (the bound is
            // wide: with the whole suite in parallel on two cores, a loop can stall seconds).
            try await client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Echo-Delay-Ms: \(20000 * TestTime.scale)\r\n\r\n")
            let response = try #require(try await client.readResponse())
            #expect(response.status == 504)
            #expect(gatewayError(response)?.error == "upstream_timeout")
            #expect(ContinuousClock.now - started < .seconds(10).scaledForRun, "the gateway must not wait for the slow upstream")
            await client.close()
        }
    }

    @Test("a body over max_body_bytes is refused with 413, by declared length or as it streams")
    func bodyTooLarge() async throws {
        try await withProxy(routeExtras: #", "max_body_bytes": 10"#) { gateway, echo in
            let declared = try await gateway.connect()
            try await declared.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world")
            let first = try #require(try await declared.readResponse())
            #expect(first.status == 413)
            #expect(gatewayError(first)?.error == "body_too_large")
            #expect(echo.requestCount == 0)
            await declared.close()

            let streamed = try await gateway.connect()
            try await streamed.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n")
            let second = try #require(try await streamed.readResponse())
            #expect(second.status == 413)
            #expect(await streamed.closedByServer())
        }
    }

    @Test(
        "request smuggling attempts get 400 and never reach the upstream",
        arguments: [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET http://evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
        ]
    )
    func ambiguousRequestsRefused(request: String) async throws {
        try await withProxy { gateway, echo in
            let client = try await gateway.connect()
            try await client.send(request)
            let response = try #require(try await client.readResponse())
            #expect(response.status == 400)
            #expect(response.header("content-type") == "application/json")
            #expect(await client.closedByServer())
            #expect(echo.requestCount == 0)
        }
    }

    @Test(
        "paths are normalised before routing; those that climb out or hide separators are refused",
        arguments: [
            ("/api/../admin", 404),
            ("/api/%2e%2e/admin", 404),
            ("/api/..%2Fadmin", 400),
            ("/api/x%5C..%5Cadmin", 400),
            ("/api/x%00", 400),
            ("/../api/x", 400),
            ("/api/a\\b", 400),
            ("/api/%zz", 400),
        ]
    )
    func pathNormalisation(path: String, status: Int) async throws {
        try await withProxy(prefix: "/api/") { gateway, echo in
            let client = try await gateway.connect()
            try await client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try #require(try await client.readResponse())
            #expect(response.status == status)
            #expect(echo.requestCount == 0)
            await client.close()
        }
    }

    @Test("an allowed path is forwarded normalised: dot segments resolved, unreserved escapes decoded")
    func normalisedPathForwarded() async throws {
        try await withProxy(prefix: "/api/") { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("GET /api/a/./b/../%7Euser//c%2a HTTP/1.1\r\nHost: a\r\n\r\n")
            let seen = try await client.readEcho()
            #expect(seen.path == "/api/a/~user/c%2A")
            await client.close()
        }
    }

    @Test("too many or too large headers get 431")
    func headerLimits() async throws {
        try await withProxy(listenerExtras: #", "max_header_bytes": 2048, "max_headers": 20"#) { gateway, echo in
            let large = try await gateway.connect()
            try await large.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: \(String(repeating: "b", count: 4096))\r\n\r\n")
            #expect(try await large.readResponse()?.status == 431)
            await large.close()

            let many = try await gateway.connect()
            try await many.send("GET / HTTP/1.1\r\nHost: a\r\n" + (1...30).map { "X-H\($0): v\r\n" }.joined() + "\r\n")
            #expect(try await many.readResponse()?.status == 431)
            await many.close()
            #expect(echo.requestCount == 0)
        }
    }

    @Test("a client that trickles its request head is cut off with 408, logged and counted")
    func slowHeaders() async throws {
        try await withProxy(listenerExtras: #", "header_read_timeout_seconds": 0.3"#) { gateway, echo in
            let client = try await gateway.connect()
            try await client.send("GET / HTTP/1.1\r\nHost: a\r\n")
            let response = try #require(try await client.readResponse())
            #expect(response.status == 408)
            #expect(response.header("cache-control") == "no-store", "rendered like every other answer of the gateway's")
            #expect(await client.closedByServer())
            #expect(echo.requestCount == 0)
            #expect(await eventually { gateway.logs.accessLines.contains { $0.contains(#""status":408"#) && $0.contains(#""error":"request_timeout""#) } })
            // Counted once: the half-read head the decoder sees at the close is not answered again.
            #expect(gateway.gateway.metricsText.contains(#"tokengate_requests_total{listener="main",route="",method="OTHER",status="4xx"} 1"#))
            #expect(gateway.logs.accessLines.count == 1)
        }
    }
}

@Suite("Malformed bodies")
struct MalformedBodyTests {
    @Test("a broken chunk in a request being forwarded closes both sides at once")
    func brokenChunk() async throws {
        try await withProxy { gateway, echo in
            let client = try await gateway.connect()
            try await client.send("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz-not-a-size\r\n")
            #expect(await client.closedByServer(within: .seconds(5)))
            #expect(echo.bodyBytesReceived <= 5)
        }
    }
}
