import ArgumentParser
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import TokenGate

@main
struct TokenGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokengate",
        abstract: "A reverse-proxy token gateway: OAuth 2 for services that know nothing about it.",
        version: TokenGateVersion.current,
        subcommands: [Demo.self, Run.self, Check.self, Status.self, Health.self, Token.self, JWKS.self, Schema.self, Sandbox.self, Version.self]
    )
}

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

struct LoggingOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable { case auto, text, json }

    @Option(name: .long, help: "Log format: auto (text on a terminal, JSON lines otherwise), text or json.")
    var logFormat: Format = .auto

    @Option(name: .long, help: "Lowest level logged: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func bootstrap() throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let json = logFormat == .json || (logFormat == .auto && isatty(2) == 0)
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "tokengate")
    }
}

/// Reads a configuration file with this process's environment and file system.
func loadConfig(path: String) throws(ConfigurationError) -> LoadedConfig {
    try ConfigLoader(resolver: .processEnvironment()).load(path: path)
}

func printToStandardError(_ text: String) {
    FileDescriptorOutput.write(text + "\n", to: 2)
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway until SIGTERM or SIGINT, then drain.")

    @OptionGroup var configOptions: ConfigOptions
    @OptionGroup var logging: LoggingOptions

    @Flag(inversion: .prefixedNo, help: "Reload when the configuration file changes (SIGHUP and POST /reload always work).")
    var watch = true

    func run() async throws {
        let logger = try logging.bootstrap()
        let loaded = try configOptions.load()
        for warning in loaded.warnings {
            logger.warning("configuration warning", metadata: ["path": "\(warning.path)", "detail": "\(warning.message)"])
        }
        logger.info("configuration loaded", metadata: ["file": "\(configOptions.path)", "version": "\(loaded.version)"])
        // Libraries that report through swift-metrics land in the same registry as
        // TokenGate's own metrics, at the admin listener's /metrics.
        let telemetry = Telemetry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: telemetry.metrics.registry))
        let service = GatewayService(loaded: loaded, logger: logger, resolver: .processEnvironment(), watch: watch, telemetry: telemetry)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch {
            logger.critical("gateway stopped", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}

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

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Obtain a token with a credential profile and describe it (the token itself only with --show-token)."
    )

    @Argument(help: "The credential profile's name.")
    var profile: String

    @OptionGroup var configOptions: ConfigOptions

    @Flag(name: .long, help: "Print the access token too (for piping into curl while debugging).")
    var showToken = false

    func run() async throws {
        let loaded = try configOptions.load()
        do {
            let obtained = try await TokenProbe.obtain(profileNamed: profile, from: loaded.config, resolver: .processEnvironment())
            print("profile:    \(profile)")
            print("token_type: \(obtained.tokenType)")
            print("scope:      \(obtained.scope ?? "(not returned)")")
            print("expires_in: \(obtained.expiresIn.map { "\($0.components.seconds) s" } ?? "(not returned)")")
            if showToken { print(obtained.token.revealed) }
        } catch {
            printToStandardError("error: \(error.description)")
            throw ExitCode(1)
        }
    }
}

struct JWKS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jwks",
        abstract: "Fetch a JWT profile's key set (with discovery) and list its keys; with --check-token, judge a token read from standard input."
    )

    @Argument(help: "The JWT profile's name.")
    var profile: String

    @OptionGroup var configOptions: ConfigOptions

    @Flag(name: .long, help: "Read one token from standard input and say whether the profile accepts it (the token is never printed).")
    var checkToken = false

    func run() async throws {
        let loaded = try configOptions.load()
        var token: String?
        if checkToken {
            token = readLine(strippingNewline: true).map { String($0.drop { $0 == " " }) }
            if token?.isEmpty ?? true {
                printToStandardError("error: --check-token reads a token from standard input; none was given")
                throw ExitCode(1)
            }
        }
        do {
            let report = try await JWKSProbe.probe(profileNamed: profile, from: loaded.config, resolver: .processEnvironment(), token: token)
            print("profile:   \(profile)")
            print("jwks_uri:  \(report.jwksURL)")
            print("max-age:   \(report.maxAgeSeconds.map { "\($0) s" } ?? "(none sent)")")
            print("keys:")
            for key in report.keys { print("  \(key)") }
            for skipped in report.skipped { print("skipped:   \(skipped)") }
            if let verdict = report.verdict {
                print("token:     \(verdict)")
                if verdict.hasPrefix("refused") || verdict.hasPrefix("not checked") { throw ExitCode(1) }
            }
        } catch let error as JWKSProbeError {
            printToStandardError("error: \(error.description)")
            throw ExitCode(1)
        }
    }
}

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the JSON Schema of gateway.json (for editors and CI).")

    func run() {
        print(GatewaySchema.text, terminator: "")
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")

    func run() {
        print("tokengate \(TokenGateVersion.current)")
    }
}
