#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import FoundationEssentials
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import TokenGate

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration file and list every problem; exit 2 if there is any error."
    )

    @Argument(help: "The file to check (default: $TOKENGATE_CONFIG, else ./gateway.json).")
    var path: String?

    @Flag(name: .long, help: "Do not read secrets or CA files: check the file alone (in CI, before it meets its secrets).")
    var noSecrets = false

    func run() throws {
        let file = path ?? defaultConfigPath
        do {
            let loaded = noSecrets
                ? try ConfigLoader(resolver: .unread, fileExists: { _ in true }).load(path: file)
                : try loadConfig(path: file)
            for warning in loaded.warnings { print("warning: \(warning)") }
            let config = loaded.config
            print("\(file): OK (\(config.listeners.count) listeners, \(config.routes.count) routes, \(config.credentials.count) credential profiles, \(config.introspection.count) introspection profiles, \(config.jwt.count) JWT profiles, \(config.login.count) login profiles)")
            if noSecrets { print("(secrets and CA files were not read: --no-secrets)") }
        } catch {
            for warning in error.warnings { printToStandardError("warning: \(warning)") }
            for issue in error.issues { printToStandardError("error: \(issue)") }
            printToStandardError("\(file): \(error.issues.count) error\(error.issues.count == 1 ? "" : "s")")
            throw ExitCode(2)
        }
    }
}
