import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

// The gateway's long-running background work as swift-service-lifecycle `Service`s, run in
// the `ControlPlane`'s `ServiceGroup` (which takes new ones while it runs: a reload starts
// the loops of new profiles). Each ends when its task is cancelled or graceful shutdown
// begins. Each describes itself by what it serves (the group logs that), never by what
// it holds.

extension CredentialProfile: BackgroundProfile {
    static var loopKind: String { "token refresher" }
}

extension IntrospectionProfile: BackgroundProfile {
    static var loopKind: String { "introspection worker" }
}

extension JWTProfile: BackgroundProfile {
    static var loopKind: String { "key set refresher" }
}

extension LoginProfile: BackgroundProfile {
    static var loopKind: String { "login worker" }
}

/// Runs one profile's loop (`BackgroundProfile.run`) as a service.
struct ProfileLoop<Profile: BackgroundProfile>: Service, CustomStringConvertible {
    let profile: Profile
    let client: Profile.Client
    let resolver: SecretResolver
    let logger: Logger

    var description: String { "\(Profile.loopKind) \(profile.name)" }

    func run() async {
        await cancelWhenGracefulShutdown { [self] in
            await profile.run(client: client, resolver: resolver, logger: logger)
        }
    }
}
