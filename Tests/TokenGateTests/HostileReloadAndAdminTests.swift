import Foundation
import NIOPosix
import Testing
@testable import TokenGate
import TokenGateSandbox

@Suite("Reloads and the admin listener under hostile use")
struct HostileReloadAndAdminTests {
    @Test("a keep-alive connection accepted on a listener address a reload moved is closed, never served by the new rules")
    func retiredListenerClosesConnections() async throws {
        let echo = try await EchoUpstream.start()
        let first = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "routes": [ { "name": "a", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)" } ] }
        """
        let watched = try await WatchedGateway.start(first, watch: false)
        let client = try await RawHTTPConnection.connect(port: watched.gateway.port(ofListener: "main") ?? 0)
        try await client.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try await client.readResponse()?.status == 200)
        let moved = first.replacingOccurrences(of: "127.0.0.1:0\" } }, \"admin", with: "127.0.0.1:\(try await freeLoopbackPort())\" } }, \"admin")
        try moved.write(toFile: watched.path, atomically: true, encoding: .utf8)
        #expect(await watched.gateway.reload(trigger: "test").succeeded)
        #expect(await client.closedByServer(), "the old connection must not go on under the new configuration")
        #expect(echo.requestCount == 1)
        await watched.stop()
        await echo.stop()
    }

    @Test("a reload that failed for a transient reason (a port still held) is retried without another edit")
    func failedReloadRetried() async throws {
        let echo = try await EchoUpstream.start()
        let first = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "routes": [ { "name": "a", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)" } ] }
        """
        let watched = try await WatchedGateway.start(first, watch: true)
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = holder.localAddress?.port ?? 0
        try first.replacingOccurrences(of: "127.0.0.1:0\" } }, \"admin", with: "127.0.0.1:\(port)\" } }, \"admin")
            .write(toFile: watched.path, atomically: true, encoding: .utf8)
        #expect(await eventually(within: .seconds(10)) { watched.gateway.lastReload?.succeeded == false })
        try await holder.close()
        #expect(await eventually(within: .seconds(20)) { watched.gateway.port(ofListener: "main") == port })
        #expect(watched.gateway.lastReload?.trigger.hasPrefix("file change") == true, "no edit or signal: the watcher did it")
        await watched.stop()
        await echo.stop()
    }

    @Test("a request waiting on an introspection call is answered 503 at once when a reload drops its profile")
    func droppedProfileAnswersWaiters() async throws {
        let idp = try await startSandbox(.demo)
        idp.setFault(.delay(.seconds(30)), on: .introspection)
        let echo = try await EchoUpstream.start()
        let validating = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs", "client_secret": "demo-introspection-secret" } },
          "routes": [ { "name": "a", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)",
                        "validate": { "introspection": "idp" } } ] }
        """
        let watched = try await WatchedGateway.start(validating, watch: false)
        let client = try await RawHTTPConnection.connect(port: watched.gateway.port(ofListener: "main") ?? 0)
        try await client.send("GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer waiting-token\r\n\r\n")
        #expect(await eventually { idp.requests(.introspection).count == 1 })
        let open = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "routes": [ { "name": "a", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)" } ] }
        """
        try open.write(toFile: watched.path, atomically: true, encoding: .utf8)
        #expect(await watched.gateway.reload(trigger: "test").succeeded)
        let response = try #require(try await client.readResponse(timeout: .seconds(10)))
        #expect(response.status == 503)
        #expect(echo.requestCount == 0)
        await client.close()
        await watched.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test("a credential or introspection wait is bounded from the head's arrival: 503 admission_timeout")
    func admissionDeadline() async throws {
        let idp = try await startSandbox(.demo)
        idp.setFault(.delay(.seconds(30)), on: .introspection)
        let echo = try await EchoUpstream.start()
        let gateway = try await TestGateway.start("""
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs", "client_secret": "demo-introspection-secret" } },
          "routes": [ { "name": "a", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)",
                        "timeouts": { "response_header_seconds": 0.5 }, "validate": { "introspection": "idp" } } ] }
        """)
        let response = try #require(try await RawHTTPConnection.roundTrip(port: gateway.port(), "GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer slow-token\r\n\r\n"))
        #expect(response.status == 503)
        #expect(gatewayError(response)?.error == "admission_timeout")
        #expect(response.header("retry-after") != nil)
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test(
        "the admin listener refuses a Host a DNS-rebinding page would send, and answers IPs and localhost",
        arguments: [("evil.example", 421), ("evil.example:9901", 421), ("127.0.0.1:9901", 200), ("localhost", 200), ("[::1]:9901", 200)]
    )
    func adminHostCheck(host: String, status: Int) async throws {
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: 1))
        let response = try await RawHTTPConnection.roundTrip(port: gateway.gateway.adminPort ?? 0, "GET /status HTTP/1.1\r\nHost: \(host)\r\n\r\n")
        #expect(response?.status == status)
        await gateway.stop()
    }

    @Test("POST /reload from a browser page (Origin or Sec-Fetch-Site: cross-site) is refused")
    func adminReloadCSRF() async throws {
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: 1))
        let port = gateway.gateway.adminPort ?? 0
        for marker in ["Origin: http://evil.example", "Sec-Fetch-Site: cross-site"] {
            let response = try await RawHTTPConnection.roundTrip(port: port, "POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\n\(marker)\r\nContent-Length: 0\r\n\r\n")
            #expect(response?.status == 403, "\(marker)")
        }
        await gateway.stop()
    }

    @Test("admin requests pipelined behind a reload: at most 16 wait, then the connection closes")
    func adminPipelineBounded() async throws {
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: 1))
        let client = try await RawHTTPConnection.connect(port: gateway.gateway.adminPort ?? 0)
        try await client.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
            + String(repeating: "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", count: 1_000))
        let bytes = try await client.readUntilClosed(timeout: .seconds(20))
        let answered = String(decoding: bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 ").count - 1
        #expect(answered <= 1 + AdminHandler.maxQueuedRequests)
        await gateway.stop()
    }

    @Test("a client that pipelines GET /metrics and reads slowly gets every answer, served as fast as it reads")
    func adminSlowReaderServed() async throws {
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: 1))
        let client = try await RawHTTPConnection.connect(port: gateway.gateway.adminPort ?? 0, receiveBuffer: 4096, reading: false)
        let count = 300
        try await client.send(String(repeating: "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", count: count - 1)
            + "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        try await client.startReading()
        let bytes = try await client.readUntilClosed(timeout: .seconds(60))
        #expect(String(decoding: bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 200").count - 1 == count)
        await gateway.stop()
    }

    @Test("admin connections past the cap are closed at once")
    func adminConnectionCap() async throws {
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: 1))
        let port = gateway.gateway.adminPort ?? 0
        var held: [RawHTTPConnection] = []
        for _ in 0..<AdminServer.maxConnections {
            // An answer proves the gateway has registered the connection.
            let connection = try await RawHTTPConnection.connect(port: port)
            try await connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await connection.readResponse()?.status == 200)
            held.append(connection)
        }
        let extra = try await RawHTTPConnection.connect(port: port)
        #expect(await extra.closedByServer())
        for connection in held { await connection.close() }
        await gateway.stop()
    }
}
