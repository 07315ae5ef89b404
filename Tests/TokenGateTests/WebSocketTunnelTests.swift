import Foundation
import Testing
@testable import TokenGate
import TokenGateSandbox

/// A real WebSocket server (Python's `websockets`) started for one test.
private struct WebSocketServer {
    let process: ChildProcess
    let port: Int

    static var script: String { DjangoOAuthToolkit.packageRoot.appendingPathComponent("Tests/Interop/websocket_probe.py").path }

    static func start() async throws -> WebSocketServer {
        guard FileManager.default.isExecutableFile(atPath: DjangoOAuthToolkit.python) else { throw DjangoOAuthToolkit.NotInstalled() }
        let port = try await freeLoopbackPort()
        let process = try ChildProcess(DjangoOAuthToolkit.python, [script, "serve", "\(port)"], environment: [:], stdout: .discard)
        let server = WebSocketServer(process: process, port: port)
        guard await eventually(within: .seconds(20), { (try? await RawHTTPConnection.connect(port: port).close()) != nil }) else {
            server.stop()
            throw DjangoOAuthToolkit.DidNotStart(log: "the websockets server did not listen")
        }
        return server
    }

    func stop() {
        if process.isRunning {
            process.signal(SIGKILL)
            _ = process.wait()
        }
    }

    /// Runs the client through `url` and decodes what it printed.
    static func client(_ url: String, token: String?) async throws -> [String: Any] {
        let result = try await runChild(DjangoOAuthToolkit.python, [script, "client", url] + (token.map { [$0] } ?? []), environment: [:])
        let line = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? ["output": line]
    }
}

@Suite("WebSocket upgrades through the gateway")
struct WebSocketTunnelTests {
    @Test("bytes the upstream sends in the same segment as its 101 reach the client, and the client's reach the upstream")
    func bytesBehindThe101() async throws {
        let upstream = try await ScriptedUpstream.start { _ in
            // RFC 6455 §1.3's example key and its accept value.
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello-from-upstream"
        }
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: upstream.port))
        let client = try await gateway.connect()
        try await client.send("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        let head = try #require(try await client.readHeadOnly())
        #expect(head.status == 101)
        #expect(head.header("upgrade") == "websocket")
        #expect(String(decoding: try await client.read(exactly: 19), as: UTF8.self) == "hello-from-upstream")
        await client.close()
        await gateway.stop()
        await upstream.stop()
    }

    @Test(
        "a 101 that does not complete the WebSocket handshake asked for is a 502, never a tunnel",
        arguments: [
            // An app endpoint reflecting a status: no Sec-WebSocket-Accept.
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            // The accept value of another key.
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x3JJHMbDL1EzLkh9GBhXDw==\r\n\r\n",
            // The right accept value, another protocol.
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            // The right accept value, no Connection: upgrade.
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        ]
    )
    func unmatchedSwitchIsRefused(answer: String) async throws {
        let upstream = try await ScriptedUpstream.start { _ in answer + "GET /smuggled HTTP/1.1\r\n\r\n" }
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: upstream.port))
        let client = try await gateway.connect()
        try await client.send("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        let response = try #require(try await client.readResponse())
        #expect(response.status == 502)
        #expect(response.bodyText.contains("Sec-WebSocket-Accept"))
        #expect(await client.closedByServer(), "the connection ends: no tunnel, and nothing can follow the upgrade request")
        await gateway.stop()
        await upstream.stop()
    }

    @Test("an upgrade request without a valid Sec-WebSocket-Key is not forwarded as one, and a 101 to it is a 502")
    func upgradeWithoutKeyIsNotForwarded() async throws {
        let upstream = try await ScriptedUpstream.start { _ in
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        }
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: upstream.port))
        let client = try await gateway.connect()
        try await client.send("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n")
        let response = try #require(try await client.readResponse())
        #expect(response.status == 502)
        let forwarded = upstream.received.first?.lowercased() ?? ""
        #expect(!forwarded.contains("upgrade: websocket"), "forwarded as a plain request")
        await client.close()
        await gateway.stop()
        await upstream.stop()
    }

    @Test("a validated WebSocket upgrade becomes a tunnel both ways; identity headers reach the server; no token is 401")
    func tunnelThroughValidatingRoute() async throws {
        let idp = try await startSandbox(.demo)
        let server = try await WebSocketServer.start()
        let gateway = try await TestGateway.start("""
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs", "client_secret": { "env": "RS_SECRET" } } },
          "routes": [ { "name": "ws", "listener": "main", "match": { "path_prefix": "/ws/" }, "strip_prefix": true,
                        "upstream": "http://127.0.0.1:\(server.port)/", "validate": { "introspection": "idp" } } ] }
        """, environment: ["RS_SECRET": "demo-introspection-secret"])
        let url = "ws://127.0.0.1:\(gateway.port())/ws/chat"

        let refused = try await WebSocketServer.client(url, token: nil)
        #expect(refused["connected"] as? Bool == false)
        #expect(refused["status"] as? Int == 401)

        let token = idp.issueToken(clientID: "demo-caller", scope: "chat", username: "alice")
        let result = try await WebSocketServer.client(url, token: token)
        #expect(result["connected"] as? Bool == true, "\(result)")
        #expect(result["text_ok"] as? Bool == true)
        #expect(result["binary_ok"] as? Bool == true)
        let seen = result["headers"] as? [String: String] ?? [:]
        #expect(seen["x-auth-subject"] == "alice")
        #expect(seen["authorization"] == nil, "the caller's token is not forwarded")

        #expect(await eventually { gateway.logs.accessLines.contains { $0.contains(#""status":101"#) && $0.contains(#""route":"ws""#) } })
        let tunnelLine = gateway.logs.accessLines.first { $0.contains(#""status":101"#) } ?? ""
        #expect(tunnelLine.contains(#""bytes_in":"#))
        await gateway.stop()
        server.stop()
        await idp.stop()
    }
}
