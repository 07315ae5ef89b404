import NIOConcurrencyHelpers
import Testing
import TokenGateSandbox

/// The suite's leak check. Every authorization server a test starts (`startSandbox`) and
/// every secret a test hands the gateway (`LeakWatch.register`) is known here; whatever
/// a gateway writes (every log and access log line, checked when a test gateway stops;
/// `/status` and `/metrics` where tests read them) must contain none of those values.
enum LeakWatch {
    private static let servers = NIOLockedValueBox<[SandboxAuthorizationServer]>([])
    private static let registered = NIOLockedValueBox<Set<String>>([])

    static func watch(_ server: SandboxAuthorizationServer) {
        servers.withLockedValue { $0.append(server) }
    }

    static func register(_ values: some Sequence<String>) {
        registered.withLockedValue { $0.formUnion(values) }
    }

    /// Every secret and token known so far. Values shorter than 8 characters are left out:
    /// they would match ordinary words.
    static var secrets: Set<String> {
        let fromServers = servers.withLockedValue { $0 }.flatMap(\.secretValues)
        return registered.withLockedValue { $0 }.union(fromServers).filter { $0.utf8.count >= 8 }
    }

    /// The known secrets that occur in `text`.
    static func leaks(in text: String) -> [String] {
        secrets.filter { text.contains($0) }.sorted()
    }

    /// Records a test failure naming `what` (never the secret itself) when `text` leaks.
    static func expectNoLeaks(in text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let found = leaks(in: text)
        // The count only: a failure report must not print what it found either (an
        // expectation on `found` itself would show its values).
        let clean = found.isEmpty
        #expect(clean, "\(what) contains \(found.count) secret or token value(s)", sourceLocation: sourceLocation)
    }
}

/// Starts a sandbox authorization server whose secrets and tokens the leak check knows.
func startSandbox(_ configuration: SandboxAuthorizationServer.Configuration, port: Int = 0) async throws -> SandboxAuthorizationServer {
    let server = try await SandboxAuthorizationServer.start(configuration, port: port)
    LeakWatch.watch(server)
    return server
}
