import Logging
import NIOConcurrencyHelpers
import TokenGate
import TokenGateSandbox

/// Collects every log line a test gateway writes, so tests can look for leaks.
final class LogCapture: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])

    var all: [String] { lines.withLockedValue { $0 } }

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

    /// Loads `json` through the same loader as `tokengate run` and starts it.
    static func start(_ json: String, environment: [String: String] = [:]) async throws -> TestGateway {
        let resolver = SecretResolver(environment: environment)
        let loaded = try ConfigLoader(resolver: resolver).load(bytes: Array(json.utf8))
        let logs = LogCapture()
        let gateway = try await Gateway.start(loaded, logger: logs.logger(), resolver: resolver)
        return TestGateway(gateway: gateway, logs: logs)
    }

    func port(_ listener: String = "main") -> Int { gateway.port(ofListener: listener) ?? 0 }

    func connect(_ listener: String = "main") async throws -> RawHTTPConnection {
        try await RawHTTPConnection.connect(port: port(listener))
    }

    func stop() async { await gateway.shutdown(grace: .seconds(2)) }
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
