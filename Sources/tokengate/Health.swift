import ArgumentParser
import AsyncHTTPClient
import NIOCore
import NIOPosix
import TokenGate

/// `tokengate health`: exit 0 when the gateway answers its liveness (or readiness) probe,
/// 1 otherwise. For container HEALTHCHECKs and exec probes, where there is no curl.
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 if a running gateway is healthy (with --ready: ready to serve), 1 if not."
    )

    @OptionGroup var adminOptions: AdminOptions

    @Flag(name: .long, help: "Ask /readyz (configuration loaded, listeners bound) instead of /healthz.")
    var ready = false

    func run() async throws {
        let (url, fetched) = await fetchAdmin(adminOptions.admin, path: ready ? "/readyz" : "/healthz")
        switch fetched {
        case .success(let answer) where answer.status == 200:
            return
        case .success(let answer):
            printToStandardError("unhealthy: \(url) answered \(answer.status)")
        case .failure(let error):
            printToStandardError("unhealthy: cannot reach \(url): \(error)")
        }
        throw ExitCode(1)
    }
}
