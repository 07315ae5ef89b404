import Logging
import Testing
import NIOConcurrencyHelpers
@testable import TokenGate
import TokenGateSandbox

/// Collects every log line a test gateway writes, so tests can look for leaks.
final class LogCapture: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])

    var all: [String] { lines.withLockedValue { $0 } }

    /// Access log lines, told apart from diagnostic lines by their `request_id` key.
    var accessLines: [String] { all.filter { $0.hasPrefix("{\"time\":") } }

    /// Metrics of their own and an access log that lands here.
    func telemetry() -> Telemetry { Telemetry(accessLog: accessLog()) }

    /// Checks that nothing captured holds a known secret or token.
    func expectNoLeaks(sourceLocation: SourceLocation = #_sourceLocation) {
        LeakWatch.expectNoLeaks(in: all.joined(), "the gateway's log output", sourceLocation: sourceLocation)
    }

    /// An access log writer (JSON lines) whose lines land here too.
    func accessLog() -> AccessLogWriter {
        AccessLogWriter(outputIsTerminal: false) { [lines] bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            lines.withLockedValue { $0.append(contentsOf: text.split(separator: "\n").map { String($0) + "\n" }) }
        }
    }

    func logger(label: String = "tokengate-test") -> Logger {
        var handler = JSONLogHandler(label: label) { [lines] line in lines.withLockedValue { $0.append(line) } }
        handler.logLevel = .trace
        return Logger(label: label, factory: { _ in handler })
    }
}

/// A real gateway on loopback ports chosen by the OS, in this test process.
struct TestGateway {
    let gateway: Gateway
    let logs: LogCapture

    /// Loads `json` through the same loader as `tokengate run` and starts it. Its secrets
    /// join the suite's leak check.
    /// `upstreamIdleTimeout` replaces the pool's 4 s, for tests of idle upstream connections;
    /// `certificateCheckInterval` the 5 s between reads of TLS listeners' files.
    /// `adjust` sets what `gateway.json` cannot (test settings such as
    /// `CredentialProfileConfig.unchallengedRejectionMinAge`) before the gateway starts.
    static func start(
        _ json: String, environment: [String: String] = [:], upstreamIdleTimeout: Duration = .seconds(4),
        certificateCheckInterval: Duration = .seconds(5), adjust: (inout LoadedConfig) -> Void = { _ in }
    ) async throws -> TestGateway {
        let resolver = SecretResolver(environment: environment)
        var loaded = try ConfigLoader(resolver: resolver).load(bytes: Array(json.utf8))
        adjust(&loaded)
        LeakWatch.register(environment.values)
        LeakWatch.register(loaded.config.credentials.flatMap { [$0.clientSecret, $0.password].compactMap(\.?.inlineValue) })
        LeakWatch.register(loaded.config.introspection.compactMap(\.clientSecret.inlineValue))
        let logs = LogCapture()
        let gateway = try await Gateway.start(
            loaded, logger: logs.logger(), resolver: resolver, telemetry: logs.telemetry(), upstreamIdleTimeout: upstreamIdleTimeout,
            certificateCheckInterval: certificateCheckInterval
        )
        return TestGateway(gateway: gateway, logs: logs)
    }

    func port(_ listener: String = "main") -> Int { gateway.port(ofListener: listener) ?? 0 }

    func connect(_ listener: String = "main") async throws -> RawHTTPConnection {
        try await RawHTTPConnection.connect(port: port(listener))
    }

    /// `GET path` on the admin listener (`/metrics`, `/status`, `/readyz`).
    func admin(_ path: String) async throws -> TestResponse {
        try #require(try await RawHTTPConnection.roundTrip(port: gateway.adminPort ?? 0, "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
    }

    /// Stops the gateway, then checks that nothing it logged holds a known secret or token.
    func stop(sourceLocation: SourceLocation = #_sourceLocation) async {
        await gateway.shutdown(grace: .seconds(2))
        logs.expectNoLeaks(sourceLocation: sourceLocation)
    }
}

/// A one-listener configuration with routes to the given upstream; `extraRouteJSON` is
/// spliced into the main route object.
func proxyConfig(upstreamPort: Int, prefix: String = "/", stripPrefix: Bool = false, routeExtras: String = "", listenerExtras: String = "", extraRoutes: String = "") -> String {
    """
    {
      "listeners": { "main": { "address": "127.0.0.1:0"\(listenerExtras) } },
      "admin": { "address": "127.0.0.1:0" },
      "routes": [
        { "name": "echo", "listener": "main", "match": { "path_prefix": "\(prefix)" }, "strip_prefix": \(stripPrefix),
          "upstream": "http://127.0.0.1:\(upstreamPort)/"\(routeExtras) }\(extraRoutes)
      ]
    }
    """
}

/// Starts an echo upstream and a gateway in front of it, runs `body`, stops both.
func withProxy(
    prefix: String = "/", stripPrefix: Bool = false, routeExtras: String = "", listenerExtras: String = "",
    _ body: (TestGateway, EchoUpstream) async throws -> Void
) async throws {
    let echo = try await EchoUpstream.start()
    let gateway: TestGateway
    do {
        gateway = try await TestGateway.start(proxyConfig(upstreamPort: echo.port, prefix: prefix, stripPrefix: stripPrefix, routeExtras: routeExtras, listenerExtras: listenerExtras))
    } catch {
        await echo.stop()
        throw error
    }
    do {
        try await body(gateway, echo)
    } catch {
        await gateway.stop()
        await echo.stop()
        throw error
    }
    await gateway.stop()
    await echo.stop()
}

extension SecretReference {
    /// The value of an inline secret (test configurations write them inline).
    var inlineValue: String? {
        if case .inline(let value) = self { return value.revealed }
        return nil
    }
}
