import NIOCore
import Testing
import TokenGateSandbox

@Suite("Connections: keep-alive, pipelining, framing across HTTP versions")
struct ProxyConnectionTests {
    @Test("pipelined requests are answered in order even when the first is slow")
    func pipelinedOrder() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            try await client.send(
                "GET /first HTTP/1.1\r\nHost: a\r\nX-Echo-Delay-Ms: 300\r\n\r\n"
                    + "GET /second HTTP/1.1\r\nHost: a\r\n\r\n"
                    + "POST /third HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            )
            #expect(try await client.readEcho().path == "/first")
            #expect(try await client.readEcho().path == "/second")
            let third = try await client.readEcho()
            #expect(third.path == "/third")
            #expect(third.body == "hello")
            await client.close()
        }
    }

    @Test("upstream connections are reused across client connections, and replaced after they idle out")
    func upstreamPoolReuse() async throws {
        let echo = try await EchoUpstream.start()
        // Long enough that a loaded machine serves the sequential requests below before any
        // connection idles out: with the whole suite running, the test process's own event
        // loops (shared with a 64 MiB upload and a thousand never-reading connections) have
        // taken more than 4 s for these six round trips.
        let idleTimeout = Duration.seconds(15).scaledForRun
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: echo.port), upstreamIdleTimeout: idleTimeout)
        do {
            // Pools are per event loop: at most one upstream connection per loop for sequential requests.
            let loops = System.coreCount
            for _ in 0..<(3 * loops) {
                let client = try await gateway.connect()
                try await client.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                _ = try await client.readEcho()
                await client.close()
            }
            #expect(echo.requestCount == 3 * loops)
            let reused = echo.connectionCount
            #expect(reused <= loops)
            // The pool closes connections idle past its timeout; the next request opens a new one.
            #expect(await eventually(within: .seconds(45)) { echo.closedConnectionCount == reused }, "the idle timeout (15 s) closes them")
            let client = try await gateway.connect()
            try await client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            _ = try await client.readEcho()
            #expect(echo.connectionCount == reused + 1)
            await client.close()
        }
        await gateway.stop()
        await echo.stop()
    }

    @Test("an HTTP/1.0 client gets a body of unknown length delimited by closing the connection")
    func http10CloseDelimited() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("GET /d HTTP/1.0\r\nHost: a\r\nX-Echo-Response-Bytes: 70000\r\nX-Echo-Chunked: 1\r\n\r\n")
            let response = try #require(try await client.readResponse())
            #expect(response.status == 200)
            #expect(response.header("transfer-encoding") == nil)
            #expect(response.header("connection") == "close")
            #expect(response.body.count == 70000)
        }
    }

    @Test("HEAD is forwarded and answered without a body")
    func headRequest() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("HEAD /x HTTP/1.1\r\nHost: a\r\nX-Echo-Response-Bytes: 123\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
            // The test client cannot know the first answer is to HEAD: read its head, then the next response.
            let head = try #require(try await client.readHeadOnly())
            #expect(head.status == 200)
            #expect(head.header("content-length") == "123")
            #expect(try await client.readEcho().path == "/after")
            await client.close()
        }
    }

    @Test("the gateway's own answer to HEAD is its head alone, with the length a GET would get; the connection goes on")
    func headRefusedByGateway() async throws {
        try await withProxy(prefix: "/app/") { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("HEAD /elsewhere HTTP/1.1\r\nHost: a\r\n\r\nGET /app/after HTTP/1.1\r\nHost: a\r\n\r\n")
            let head = try #require(try await client.readHeadOnly())
            #expect(head.status == 404)
            #expect(Int(head.header("content-length") ?? "") ?? 0 > 0)
            // Had a body followed the head, it would be read here as the next response.
            #expect(try await client.readEcho().path == "/app/after")
            await client.close()
        }
    }

    @Test("Expect: 100-continue is answered by the gateway before the body is sent")
    func expectContinue() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("PUT /e HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            let interim = try #require(try await client.readHeadOnly())
            #expect(interim.status == 100)
            try await client.send("data")
            let seen = try await client.readEcho()
            #expect(seen.body == "data")
            #expect(seen.header("expect") == nil)
            await client.close()
        }
    }

    @Test("a client still sending a refused body reads the 413 instead of a reset")
    func earlyResponseLingers() async throws {
        try await withProxy(routeExtras: #", "max_body_bytes": 1000"#) { gateway, echo in
            let client = try await gateway.connect()
            try await client.send("POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 4000000\r\n\r\n")
            let piece = [UInt8](repeating: 0x61, count: 64 * 1024)
            // The gateway closes for good once its 2 s of lingering are over; on a loaded
            // machine that can come before a client's sending does, which is the client's
            // lot, not what is tested here: the answer must have reached it all the same.
            for _ in 0..<4 {
                guard (try? await client.send(bytes: piece)) != nil else { break }
            }
            let response = try #require(try await client.readResponse())
            #expect(response.status == 413)
            #expect(response.header("connection") == "close")
            #expect(await client.closedByServer(within: .seconds(5)))
            #expect(echo.requestCount == 0)
        }
    }
}
