import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// A profile with a control-plane loop: a credential profile keeps its token fresh, an
/// introspection profile serves its queued calls, a JWT profile keeps its key set fresh,
/// a login profile serves its queued work for the provider.
protocol BackgroundProfile: Sendable {
    associatedtype Client: Sendable
    /// What the loop does, for its service's name ("token refresher").
    static var loopKind: String { get }
    /// The profile's name in `gateway.json`.
    var name: String { get }
    func run(client: Client, resolver: SecretResolver, logger: Logger) async
}
