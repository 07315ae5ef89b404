import Logging
import ServiceLifecycle

/// Runs the gateway's long-running background work, the `Service`s of
/// `ControlPlaneServices.swift` (token refreshers, introspection workers, key set
/// refreshers, the file watcher, the reload worker), in one `ServiceGroup`.
///
/// A reload starts the services of new profiles while the group runs
/// (`addServiceUnlessShutdown`); a service that ends, such as the loop of a profile a
/// reload dropped, leaves the others running. `shutdown()` ends the group gracefully,
/// newest service first, and waits until every service has ended; a service offered
/// after that is not started. When the gateway runs inside a `ServiceGroup`
/// (`GatewayService`), this group also shuts down when that one's graceful shutdown
/// begins, as its services always have.
///
/// The group runs in the one task the gateway owns directly: `Gateway.start` returns a
/// running gateway rather than running it, so something must carry the group's `run()`
/// until `shutdown()`, which awaits it.
final class ControlPlane: Sendable {
    private let group: ServiceGroup
    private let runner: Task<Void, Never>

    /// Starts the group with `first`, a service that runs until shutdown (the reload
    /// worker): a `ServiceGroup` whose services have all ended stops, and one that starts
    /// with none ends at once.
    init(first: some Service & CustomStringConvertible, logger: Logger) {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [ControlPlane.entry(first)], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger
        ))
        self.group = group
        self.runner = Task { try? await group.run() }
    }

    /// Runs `service` until it ends or the control plane shuts down.
    func start(_ service: some Service & CustomStringConvertible) async {
        await group.addServiceUnlessShutdown(ControlPlane.entry(service))
    }

    /// Ends every service (gracefully: each stops at its next step) and waits for all of
    /// them to end.
    func shutdown() async {
        await group.triggerGracefulShutdown()
        await runner.value
    }

    /// A service whose end, returned or thrown, ends only itself; it is logged by its
    /// `description`, which names what it serves and nothing it holds.
    private static func entry(_ service: some Service & CustomStringConvertible) -> ServiceGroupConfiguration.ServiceConfiguration {
        ServiceGroupConfiguration.ServiceConfiguration(
            service: service, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore, serviceName: service.description
        )
    }
}
