import Foundation
import NIOCore
import Testing
@testable import TokenGate
import TokenGateSandbox

/// Counts the responses in raw bytes (their status lines).
private func statusLines(_ bytes: [UInt8], _ prefix: String) -> Int {
    String(decoding: bytes, as: UTF8.self).components(separatedBy: prefix).count - 1
}

/// Two routes to one echo upstream: `/open/` validates nothing, `/app/` validates tokens
/// against the sandbox and sets a custom identity header.
private func twoRouteConfig(idp: SandboxAuthorizationServer, echoPort: Int) -> String {
    """
    { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
      "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs",
                                  "client_secret": { "env": "RS_SECRET" } } },
      "routes": [
        { "name": "open", "listener": "main", "match": { "path_prefix": "/open/" }, "upstream": "http://127.0.0.1:\(echoPort)/" },
        { "name": "app", "listener": "main", "match": { "path_prefix": "/app/" }, "upstream": "http://127.0.0.1:\(echoPort)/",
          "validate": { "introspection": "idp", "identity_headers": { "X-User": "username" } } },
        { "name": "admin-host", "listener": "main", "match": { "host": "admin.example.com", "path_prefix": "/" },
          "upstream": "http://127.0.0.1:\(echoPort)/host-route/" } ] }
    """
}

@Suite("Hostile clients: what the proxy refuses, strips and bounds")
struct HostileClientTests {
    @Test("pipelined requests waiting behind a slow one are bounded: the excess is dropped and the connection closes after the queued ones")
    func pipelinedFloodIsBounded() async throws {
        try await withProxy { gateway, echo in
            let client = try await gateway.connect()
            let count = 40_000
            try await client.send("GET /slow HTTP/1.1\r\nHost: a\r\nX-Echo-Delay-Ms: 300\r\n\r\n"
                + String(repeating: "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", count: count))
            let bytes = try await client.readUntilClosed(timeout: .seconds(30))
            let answered = statusLines(bytes, "HTTP/1.1 200")
            #expect(answered == 1 + ConnectionStateMachine.defaultMaxQueuedRequests)
            #expect(statusLines(bytes, "HTTP/1.1 ") == answered, "every answer is a complete 200")
            #expect(echo.requestCount == answered)
        }
    }

    @Test("a client that sends requests without reading the answers gets each answered once it reads, none lost")
    func slowReaderLosesNothing() async throws {
        try await withProxy(prefix: "/api/") { gateway, _ in
            let client = try await RawHTTPConnection.connect(port: gateway.port(), receiveBuffer: 4096, reading: false)
            let count = 5_000
            try await client.send(String(repeating: "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", count: count - 1) + "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            try await client.startReading()
            let bytes = try await client.readUntilClosed(timeout: .seconds(30))
            #expect(statusLines(bytes, "HTTP/1.1 404") == count)
        }
    }

    @Test("CONNECT gets 405 and the connection closes; later bytes are never buffered")
    func connectRefused() async throws {
        try await withProxy { gateway, echo in
            let client = try await gateway.connect()
            try await client.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + String(repeating: "x", count: 100_000))
            let response = try #require(try await client.readResponse())
            #expect(response.status == 405)
            #expect(response.header("content-length") == "0", "the head promises no body it will not send")
            #expect(await client.closedByServer())
            #expect(echo.requestCount == 0)
        }
    }

    @Test("an h2c upgrade is served as plain HTTP/1.1 and the connection closes after it")
    func h2cNotUpgraded() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
            let report = try await client.readEcho()
            #expect(report.header("upgrade") == nil)
            #expect(report.header("http2-settings") == nil)
            #expect(await client.closedByServer())
        }
    }

    @Test("TRACE is answered 405 by the gateway and never reaches the upstream with the injected credential")
    func traceRefused() async throws {
        let upstream = try await ScriptedUpstream.start { head in
            "HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: \(head.utf8.count)\r\n\r\n\(head)"
        }
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: upstream.port))
        let response = try #require(try await RawHTTPConnection.roundTrip(port: gateway.port(), "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(response.status == 405)
        #expect(gatewayError(response)?.error == "method_not_allowed")
        #expect(upstream.received.isEmpty)
        await gateway.stop()
        await upstream.stop()
    }

    @Test("identity headers are stripped on every route, the non-validating one included, in every spelling")
    func identitySpoofingStripped() async throws {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let gateway = try await TestGateway.start(twoRouteConfig(idp: idp, echoPort: echo.port), environment: ["RS_SECRET": "demo-introspection-secret"])
        let client = try await gateway.connect()
        try await client.send("GET /open/x HTTP/1.1\r\nHost: a\r\nX-Auth-Subject: admin\r\nX_Auth_Subject: admin\r\nx-user: root\r\nX-Auth-Scope: all\r\n\r\n")
        let report = try await client.readEcho()
        #expect(report.values("x-auth-subject").isEmpty)
        #expect(report.values("x_auth_subject").isEmpty)
        #expect(report.values("x-user").isEmpty)
        #expect(report.values("x-auth-scope").isEmpty)
        await client.close()
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test("forwarding-header aliases and URL overrides from an untrusted peer never reach the upstream")
    func forwardingAliasesStripped() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("""
            GET /x HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 10.0.0.1\r\nX_Real_IP: 10.0.0.2\r\nX-Original-URL: /admin\r\n\
            X-Rewrite-URL: /admin\r\nTrue-Client-IP: 10.0.0.3\r\nX-Client-IP: 10.0.0.4\r\nX-Real-IP: 10.0.0.5\r\n\r\n
            """)
            let report = try await client.readEcho()
            for name in ["x_forwarded_for", "x_real_ip", "x-original-url", "x-rewrite-url", "true-client-ip", "x-client-ip", "x-real-ip"] {
                #expect(report.values(name).isEmpty, "\(name) reached the upstream")
            }
            #expect(report.header("x-forwarded-for") == "127.0.0.1")
        }
    }

    @Test(
        "path parameters are refused, so the router sees what Tomcat serves",
        arguments: ["/admin;x/users", "/app/..;/admin", "/a;jsessionid=1"]
    )
    func pathParametersRefused(path: String) async throws {
        try await withProxy { gateway, echo in
            let response = try #require(try await RawHTTPConnection.roundTrip(port: gateway.port(), "GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n"))
            #expect(response.status == 400)
            #expect(echo.requestCount == 0)
        }
    }

    @Test("a Host with a trailing dot matches its host route")
    func trailingDotHost() async throws {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let gateway = try await TestGateway.start(twoRouteConfig(idp: idp, echoPort: echo.port), environment: ["RS_SECRET": "demo-introspection-secret"])
        let client = try await gateway.connect()
        try await client.send("GET /x HTTP/1.1\r\nHost: admin.example.com.\r\n\r\n")
        #expect(try await client.readEcho().path == "/host-route/x")
        await client.close()
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test("Expect: 100-continue is answered only after admission: a refused request gets its 401, never a 100")
    func continueAfterAdmission() async throws {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let gateway = try await TestGateway.start(twoRouteConfig(idp: idp, echoPort: echo.port), environment: ["RS_SECRET": "demo-introspection-secret"])
        let refused = try await gateway.connect()
        try await refused.send("POST /app/x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        #expect(try await refused.readHeadOnly()?.status == 401)
        await refused.close()

        let token = idp.issueToken(clientID: "demo-caller", scope: "legacy:use", username: "alice")
        let admitted = try await gateway.connect()
        try await admitted.send("POST /app/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        #expect(try await admitted.readHeadOnly()?.status == 100)
        try await admitted.send("hello")
        #expect(try await admitted.readEcho().body == "hello")
        await admitted.close()
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test("a query with bytes RFC 3986 wants encoded is forwarded encoded, not refused as a 502")
    func rawQueryBytesEncoded() async throws {
        try await withProxy { gateway, _ in
            let client = try await gateway.connect()
            try await client.send("GET /x?f={\"a\":1}&p=a|b HTTP/1.1\r\nHost: a\r\n\r\n")
            let report = try await client.readEcho()
            #expect(report.query == "f=%7B%22a%22:1%7D&p=a%7Cb")
        }
    }

    @Test("upstream Transfer-Encoding: gzip, chunked reaches the client with its coding and intact bytes")
    func transferCodingsKept() async throws {
        let upstream = try await ScriptedUpstream.start { _ in
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        }
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: upstream.port))
        let client = try await gateway.connect()
        try await client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(try await client.readResponse())
        #expect(response.header("transfer-encoding") == "gzip, chunked")
        #expect(response.bodyText == "hello world")
        try await client.send("GET / HTTP/1.0\r\nHost: a\r\n\r\n")
        #expect(try await client.readResponse()?.status == 502, "an HTTP/1.0 client cannot receive a transfer coding")
        await client.close()
        await gateway.stop()
        await upstream.stop()
    }

    @Test("an upstream head field with a control character never reaches the client: 502, and the connection goes on")
    func upstreamControlCharacterRefused() async throws {
        let upstream = try await ScriptedUpstream.start { head in
            head.hasPrefix("GET /bad")
                ? "HTTP/1.1 200 OK\r\nX-Bad: a\u{01}b\r\nContent-Length: 2\r\n\r\nok"
                : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        }
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: upstream.port))
        let client = try await gateway.connect()
        try await client.send("GET /bad HTTP/1.1\r\nHost: a\r\n\r\n")
        let refused = try #require(try await client.readResponse())
        #expect(refused.status == 502)
        #expect(refused.header("x-bad") == nil)
        try await client.send("GET /good HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try await client.readResponse()?.bodyText == "ok")
        await client.close()
        await gateway.stop()
        await upstream.stop()
    }

    @Test("the 401 replay copy is one buffer, whatever the segments the body came in")
    func replayCopyIsCompact() {
        var copy = ReplayCopy(capacity: 1024, limit: Exchange.replayLimit, allocator: ByteBufferAllocator())
        var read = ByteBufferAllocator().buffer(capacity: 64 * 1024)
        read.writeRepeatingByte(UInt8(ascii: "a"), count: 64 * 1024)
        for offset in 0..<Exchange.replayLimit {
            let kept = copy.append(read.getSlice(at: offset, length: 1) ?? read)
            #expect(kept)
        }
        #expect(copy.readableBytes == Exchange.replayLimit)
        #expect((copy.buffer?.capacity ?? .max) <= 2 * Exchange.replayLimit)
        let overLimit = copy.append(read.getSlice(at: 0, length: 1) ?? read)
        #expect(!overLimit, "past the limit the copy is given up")
    }
}
