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
