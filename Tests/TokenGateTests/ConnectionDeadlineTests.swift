import Foundation
import NIOCore
import Testing
@testable import TokenGate
import TokenGateSandbox

/// Open client connections of listener `main`, as `/metrics` shows them (absent: none).
private func openConnections(_ gateway: TestGateway, listener: String = "main") async throws -> Int {
    let text = try await gateway.admin("/metrics").bodyText
    let prefix = "tokengate_listener_connections{listener=\"\(listener)\"} "
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return 0 }
    return Int(Double(line.dropFirst(prefix.count)) ?? -1)
}

/// A request head that never ends: the head timer answers it with a 408.
private let unfinishedHead = "GET /api/x HTTP/1.1\r\nHost: a\r\n"

@Suite("Every close has a deadline; every listener a connection cap")
struct ConnectionDeadlineTests {
    @Test("clients that never read the end of a response that closes the connection are disconnected once the idle timeout passes")
    func closingAnswerToNonReader() async throws {
        try await withProxy(prefix: "/api/", routeExtras: #", "timeouts": { "idle_seconds": 1 }"#, listenerExtras: #", "idle_timeout_seconds": 1"#) { gateway, _ in
            // Loopback send buffers grow to about 3 MB: responses of sizes around that leave
            // some of them ending (read whole from the upstream) while their last bytes still
            // wait in the gateway for a client that never reads them.
            var clients: [RawHTTPConnection] = []
            for index in 0..<16 {
                let client = try await RawHTTPConnection.connect(port: gateway.port(), receiveBuffer: 4096, reading: false)
                try await client.send("GET /api/x HTTP/1.1\r\nHost: a\r\nX-Echo-Response-Bytes: \(2_900_000 + index * 16_384)\r\nConnection: close\r\n\r\n")
                clients.append(client)
            }
            #expect(clients.count == 16)
            #expect(await eventually(within: .seconds(20)) { (try? await openConnections(gateway)) == 0 },
                    "every connection is closed although its client never read")
            let answer = try #require(try await RawHTTPConnection.roundTrip(port: gateway.port(), "GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
            #expect(answer.status == 200, "the listener serves again")
            for client in clients { await client.close() }
        }
    }

    @Test("1,000 never-reading connections: at most max_connections are held, the rest are refused and counted, all end within their deadline")
    func thousandNonReaders() async throws {
        let extras = #", "idle_timeout_seconds": 1, "header_read_timeout_seconds": 10, "max_connections": 100"#
        try await withProxy(prefix: "/api/", listenerExtras: extras) { gateway, _ in
            let port = gateway.port()
            var clients: [RawHTTPConnection] = []
            var highest = 0
            for _ in 0..<20 {
                let opened = try await withThrowingTaskGroup(of: RawHTTPConnection?.self) { group in
                    for _ in 0..<50 {
                        group.addTask {
                            guard let client = try? await RawHTTPConnection.connect(port: port, receiveBuffer: 4096, reading: false) else { return nil }
                            // A refused connection is closed under the client: its send may fail.
                            try? await client.send(unfinishedHead)
                            return client
                        }
                    }
                    var made: [RawHTTPConnection] = []
                    for try await client in group { if let client { made.append(client) } }
                    return made
                }
                clients += opened
                highest = max(highest, try await openConnections(gateway))
            }
            #expect(clients.count == 1000)
            #expect(highest <= 100, "max_connections holds")
            #expect(await eventually(within: .seconds(40)) { (try? await openConnections(gateway)) == 0 },
                    "the held ones end at their head deadline (408), the others at once")
            let samples = try await parsePrometheus(try await gateway.admin("/metrics").bodyText)
            let refused = samples.value("tokengate_connections_refused_total", ["listener": "main"]) ?? 0
            #expect(refused >= 1 && refused <= 900, "connections past the cap were refused and counted")
            let answer = try #require(try await RawHTTPConnection.roundTrip(port: port, "GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
            #expect(answer.status == 200, "the listener serves again")
            for client in clients { await client.close() }
        }
    }

    @Test("a WebSocket tunnel whose client stops reading closes both sides once it idles, whatever is still unsent")
    func tunnelToNonReader() async throws {
        let flood = String(repeating: "x", count: 2 << 20)
        let upstream = try await ScriptedUpstream.start { _ in
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" + flood
        }
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: upstream.port, routeExtras: #", "timeouts": { "idle_seconds": 1 }"#))
        var clients: [RawHTTPConnection] = []
        for _ in 0..<8 {
            let client = try await RawHTTPConnection.connect(port: gateway.port(), receiveBuffer: 4096, reading: false)
            try await client.send("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            clients.append(client)
        }
        #expect(await eventually(within: .seconds(10)) { gateway.logs.accessLines.filter { $0.contains(#""status":101"#) }.count == 8 },
                "every tunnel ends and is logged")
        #expect(await eventually(within: .seconds(10)) { (try? await openConnections(gateway)) == 0 })
        for client in clients { await client.close() }
        await gateway.stop()
        await upstream.stop()
    }
}
