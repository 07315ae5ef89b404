import Foundation
import Testing
@testable import TokenGate
import TokenGateSandbox

/// A gateway started from a file it watches, as `tokengate run` does.
struct WatchedGateway {
    let directory: TemporaryDirectory
    let path: String
    let gateway: Gateway
    let logs: LogCapture

    static func start(_ json: String, environment: [String: String] = [:], watch: Bool = true) async throws -> WatchedGateway {
        let directory = try TemporaryDirectory()
        let path = try directory.write("gateway.json", json)
        let resolver = SecretResolver(environment: environment)
        let loaded = try ConfigLoader(resolver: resolver).load(path: path)
        LeakWatch.register(environment.values)
        let logs = LogCapture()
        let gateway = try await Gateway.start(loaded, logger: logs.logger(), resolver: resolver, watch: watch, telemetry: logs.telemetry())
        return WatchedGateway(directory: directory, path: path, gateway: gateway, logs: logs)
    }

    func status(_ path: String, on listener: String = "main") async throws -> Int {
        try await RawHTTPConnection.roundTrip(port: gateway.port(ofListener: listener) ?? 0, "GET \(path) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")?.status ?? 0
    }

    func stop() async {
        await gateway.shutdown(grace: .seconds(1))
        logs.expectNoLeaks()
        directory.remove()
    }
}

private func config(echoPort: Int, routes: String = "", listeners: String = "") -> String {
    """
    { "listeners": { "main": { "address": "127.0.0.1:0" }\(listeners) }, "admin": { "address": "127.0.0.1:0" },
      "routes": [ { "name": "a", "listener": "main", "match": { "path_prefix": "/a/" }, "upstream": "http://127.0.0.1:\(echoPort)" }\(routes) ] }
    """
}

private let routeB = #", { "name": "b", "listener": "main", "match": { "path_prefix": "/b/" }, "upstream": "http://127.0.0.1:PORT" }"#

@Suite("Live reconfiguration")
struct ReloadTests {
    @Test("a route added by editing the file serves within 2 seconds")
    func editInPlace() async throws {
        let echo = try await EchoUpstream.start()
        let watched = try await WatchedGateway.start(config(echoPort: echo.port))
        #expect(try await watched.status("/b/x") == 404)
        try config(echoPort: echo.port, routes: routeB.replacingOccurrences(of: "PORT", with: "\(echo.port)"))
            .write(toFile: watched.path, atomically: false, encoding: .utf8)
        #expect(await eventually(within: .seconds(2)) { (try? await watched.status("/b/x")) == 200 })
        #expect(watched.gateway.lastReload?.trigger == "file change")
        await watched.stop()
        await echo.stop()
    }

    @Test("an editor's write-to-temp-and-rename is picked up")
    func writeAndRename() async throws {
        let echo = try await EchoUpstream.start()
        let watched = try await WatchedGateway.start(config(echoPort: echo.port))
        let temporary = try watched.directory.write(".gateway.json.swp", config(echoPort: echo.port, routes: routeB.replacingOccurrences(of: "PORT", with: "\(echo.port)")))
        #expect(rename(temporary, watched.path) == 0)
        #expect(await eventually(within: .seconds(3)) { (try? await watched.status("/b/x")) == 200 })
        await watched.stop()
        await echo.stop()
    }

    @Test("a Kubernetes ConfigMap-style ..data symlink swap is picked up")
    func configMapSymlinkSwap() async throws {
        let echo = try await EchoUpstream.start()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = directory.url.path
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(root)/..2026_11_29_01", withIntermediateDirectories: true)
        try config(echoPort: echo.port).write(toFile: "\(root)/..2026_11_29_01/gateway.json", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: "\(root)/..data", withDestinationPath: "..2026_11_29_01")
        try fm.createSymbolicLink(atPath: "\(root)/gateway.json", withDestinationPath: "..data/gateway.json")
        let loaded = try ConfigLoader(resolver: SecretResolver(environment: [:])).load(path: "\(root)/gateway.json")
        let logs = LogCapture()
        let gateway = try await Gateway.start(loaded, logger: logs.logger(), resolver: SecretResolver(environment: [:]), watch: true, telemetry: logs.telemetry())
        // What the kubelet does: write a new timestamped directory, then atomically repoint ..data.
        try fm.createDirectory(atPath: "\(root)/..2026_11_29_02", withIntermediateDirectories: true)
        try config(echoPort: echo.port, routes: routeB.replacingOccurrences(of: "PORT", with: "\(echo.port)"))
            .write(toFile: "\(root)/..2026_11_29_02/gateway.json", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: "\(root)/..data_tmp", withDestinationPath: "..2026_11_29_02")
        #expect(rename("\(root)/..data_tmp", "\(root)/..data") == 0)
        let port = gateway.port(ofListener: "main") ?? 0
        #expect(await eventually(within: .seconds(3)) {
            guard let client = try? await RawHTTPConnection.connect(port: port) else { return false }
            try? await client.send("GET /b/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            return (try? await client.readResponse())??.status == 200
        })
        await gateway.shutdown(grace: .seconds(1))
        logs.expectNoLeaks()
        await echo.stop()
    }

    @Test(
        "a broken edit leaves the old routes serving and shows its errors in /status",
        arguments: [
            (#"{ "listeners": "#, "invalid JSON"),
            (#"{ "listeners": { "main": { "address": "127.0.0.1:0" } }, "routes": [], "rotues": [] }"#, #"rotues: unknown key, did you mean \"routes\"?"#),
            (#"{ "listeners": { "main": { "address": "127.0.0.1:0" } }, "routes": [ { "name": "a", "listener": "nope", "match": { "path_prefix": "/a/" }, "upstream": "http://127.0.0.1:1" } ] }"#, #"routes[0].listener: no listener named \"nope\""#),
        ]
    )
    func brokenEdit(broken: String, expected: String) async throws {
        let echo = try await EchoUpstream.start()
        let watched = try await WatchedGateway.start(config(echoPort: echo.port), watch: false)
        let versionBefore = watched.gateway.configVersion
        try broken.write(toFile: watched.path, atomically: true, encoding: .utf8)
        let outcome = await watched.gateway.reload(trigger: "test")
        #expect(!outcome.succeeded)
        #expect(outcome.errors.joined().contains(expected.replacingOccurrences(of: "\\\"", with: "\"")))
        #expect(watched.gateway.configVersion == versionBefore)
        #expect(try await watched.status("/a/x") == 200)
        let admin = try await RawHTTPConnection.connect(port: watched.gateway.adminPort ?? 0)
        try await admin.send("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let status = try #require(try await admin.readResponse())
        #expect(status.bodyText.contains(#""result":"failed""#))
        #expect(status.bodyText.contains(expected))
        try await admin.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        #expect(try await admin.readResponse()?.status == 422)
        try config(echoPort: echo.port).write(toFile: watched.path, atomically: true, encoding: .utf8)
        try await admin.send("POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        #expect(try await admin.readResponse()?.status == 200)
        await admin.close()
        await watched.stop()
        await echo.stop()
    }

    @Test("listeners: an added one serves, a removed one stops accepting, an unbindable address fails the whole reload")
    func listenerChanges() async throws {
        let echo = try await EchoUpstream.start()
        let watched = try await WatchedGateway.start(config(echoPort: echo.port), watch: false)
        let secondPort = try await freeLoopbackPort()
        let withSecond = config(echoPort: echo.port, routes: #", { "name": "s", "listener": "second", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\#(echo.port)" }"#,
                                listeners: #", "second": { "address": "127.0.0.1:\#(secondPort)" }"#)
        try withSecond.write(toFile: watched.path, atomically: true, encoding: .utf8)
        #expect(await watched.gateway.reload(trigger: "test").succeeded)
        #expect(try await watched.status("/x", on: "second") == 200)

        // An address already in use: the reload fails as a whole, the old listeners stay.
        let squatter = try await EchoUpstream.start()
        let clash = config(echoPort: echo.port, listeners: #", "second": { "address": "127.0.0.1:\#(squatter.port)" }"#)
        try clash.write(toFile: watched.path, atomically: true, encoding: .utf8)
        let refused = await watched.gateway.reload(trigger: "test")
        #expect(!refused.succeeded)
        #expect(refused.errors.first?.hasPrefix("listeners.second.address") == true)
        #expect(try await watched.status("/x", on: "second") == 200)

        try config(echoPort: echo.port).write(toFile: watched.path, atomically: true, encoding: .utf8)
        #expect(await watched.gateway.reload(trigger: "test").succeeded)
        await #expect(throws: (any Error).self) { _ = try await RawHTTPConnection.connect(port: secondPort) }
        await squatter.stop()
        await watched.stop()
        await echo.stop()
    }

    @Test("a reload that changes only a route keeps the cached token: no new token request")
    func tokenSurvivesReload() async throws {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        func document(_ extraRoute: String) -> String {
            """
            { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
              "credentials": { "billing": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc", "client_secret": { "env": "S" } } },
              "routes": [ { "name": "a", "listener": "main", "match": { "path_prefix": "/a/" }, "upstream": "http://127.0.0.1:\(echo.port)", "credential": "billing" }\(extraRoute) ] }
            """
        }
        let watched = try await WatchedGateway.start(document(""), environment: ["S": "demo-billing-secret"], watch: false)
        #expect(try await watched.status("/a/x") == 200)
        #expect(idp.calls(.token) == 1)
        try document(#", { "name": "b", "listener": "main", "match": { "path_prefix": "/b/" }, "upstream": "http://127.0.0.1:\#(echo.port)", "credential": "billing" }"#)
            .write(toFile: watched.path, atomically: true, encoding: .utf8)
        #expect(await watched.gateway.reload(trigger: "test").succeeded)
        #expect(try await watched.status("/b/x") == 200)
        #expect(try await watched.status("/a/x") == 200)
        #expect(idp.calls(.token) == 1)
        await watched.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test("32 connections for 10 seconds across 20 reloads that switch the upstream back and forth: no request fails")
    func reloadsUnderLoad() async throws {
        let first = try await EchoUpstream.start()
        let second = try await EchoUpstream.start()
        let watched = try await WatchedGateway.start(config(echoPort: first.port), watch: false)
        let port = watched.gateway.port(ofListener: "main") ?? 0
        let deadline = ContinuousClock.now + .seconds(10)
        async let load: (Int, Int) = withThrowingTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<32 {
                group.addTask {
                    var ok = 0
                    var failed = 0
                    let client = try await RawHTTPConnection.connect(port: port)
                    // Bounded: the deadline or 50,000 requests per connection.
                    while ContinuousClock.now < deadline && ok + failed < 50_000 {
                        try await client.send("GET /a/x HTTP/1.1\r\nHost: a\r\n\r\n")
                        if try await client.readResponse()?.status == 200 { ok += 1 } else { failed += 1 }
                    }
                    await client.close()
                    return (ok, failed)
                }
            }
            return try await group.reduce(into: (0, 0)) { $0.0 += $1.0; $0.1 += $1.1 }
        }
        var reloads = 0
        for index in 0..<20 {
            try await Task.sleep(for: .milliseconds(400))
            try config(echoPort: index % 2 == 0 ? second.port : first.port).write(toFile: watched.path, atomically: true, encoding: .utf8)
            if await watched.gateway.reload(trigger: "test").succeeded { reloads += 1 }
        }
        let (ok, failed) = try await load
        #expect(reloads == 20)
        #expect(failed == 0)
        #expect(ok > 32)
        #expect(first.requestCount > 0 && second.requestCount > 0)
        await watched.stop()
        await first.stop()
        await second.stop()
    }
}

@Suite("SIGHUP")
struct SighupTests {
    @Test("SIGHUP reloads the file in a running tokengate")
    func sighup() async throws {
        let echo = try await EchoUpstream.start()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("gateway.json", proxyConfig(upstreamPort: echo.port, prefix: "/a/"))
        let gateway = try GatewayProcess(config: file, extraArguments: ["--no-watch"])
        defer { gateway.kill() }
        let port = try await gateway.port(ofListener: "main")
        func status(_ path: String) async throws -> Int {
            try await RawHTTPConnection.roundTrip(port: port, "GET \(path) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")?.status ?? 0
        }
        #expect(try await status("/b/x") == 404)
        _ = try directory.write("gateway.json", proxyConfig(upstreamPort: echo.port, prefix: "/b/"))
        gateway.signal(SIGHUP)
        #expect(await eventually(within: .seconds(5)) { (try? await status("/b/x")) == 200 })
        #expect(gateway.logLines.contains { $0.contains("configuration reloaded") && $0.contains("SIGHUP") })
        await gateway.stop()
        await echo.stop()
    }
}
