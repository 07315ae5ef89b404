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

/// Options every command that reads `gateway.json` shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Path of gateway.json (default: $TOKENGATE_CONFIG, else ./gateway.json).")
    var config: String?

    var path: String { config ?? defaultConfigPath }

    /// Loads the file; on any error prints every problem and exits 2.
    func load() throws -> LoadedConfig {
        do {
            return try loadConfig(path: path)
        } catch {
            printToStandardError(error.description)
            throw ExitCode(2)
        }
    }
}

/// `$TOKENGATE_CONFIG`, else `./gateway.json`.
var defaultConfigPath: String { ProcessInfo.processInfo.environment["TOKENGATE_CONFIG"] ?? "gateway.json" }

/// Reads a configuration file with this process's environment and file system.
func loadConfig(path: String) throws(ConfigurationError) -> LoadedConfig {
    try ConfigLoader(resolver: .processEnvironment()).load(path: path)
}
