import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// One immutable, ready-to-serve view of the configuration: the validated config plus
/// everything derived from it that the hot path needs (routers, TLS contexts). Every
/// request reads exactly one snapshot from start to finish.
final class ConfigSnapshot: Sendable {
    let loaded: LoadedConfig
    private let listeners: [String: RequestPlanner]
    let accessLog: AccessLogPolicy
    /// Identity header names stripped from every client request on every route: this
    /// configuration's and, after a reload, the previous one's.
    let identityNames: IdentityHeaderNames
    /// This configuration's own identity header names.
    let ownIdentityNames: IdentityHeaderNames

    var config: GatewayConfig { loaded.config }
    var version: String { loaded.version }

    /// Builds the derived state. Fails, with path-qualified errors, only for problems that
    /// validation cannot see without doing the work (a CA file that is not a PEM bundle).
    /// `profiles` are the live profiles the routes use (they outlive snapshots, so a reload
    /// can keep their tokens, keys and caches); `metrics` supplies each route's
    /// instruments; `previous` is the snapshot being replaced, whose identity names stay
    /// stripped; `revocations` are the gateway's revoked tokens (they outlive snapshots).
    init(
        _ loaded: LoadedConfig, profiles: Profiles = Profiles(), metrics: GatewayMetrics, previous: ConfigSnapshot? = nil,
        revocations: TokenRevocations = TokenRevocations()
    ) throws(ConfigurationError) {
        self.loaded = loaded
        self.accessLog = AccessLogPolicy(loaded.config.accessLog)
        var identityNames = IdentityHeaderNames(InboundValidationConfig.defaultIdentityHeaders.map(\.header) + ClientCertificateIdentity.headerNames)
        for route in loaded.config.routes {
            for header in route.validate?.identityHeaders ?? [] { identityNames.insert(header.header) }
            if let profile = route.login.flatMap(loaded.config.loginProfile(named:)) {
                for header in profile.identityHeaders { identityNames.insert(header.header) }
                identityNames.insert(LoginProfileConfig.accessTokenHeader)
            }
        }
        self.ownIdentityNames = identityNames
        // Names the previous configuration set stay stripped: an upstream may still trust them.
        if let previous { identityNames.formUnion(previous.ownIdentityNames) }
        self.identityNames = identityNames
        var problems: [ConfigIssue] = []
        var contexts: [UpstreamEndpoint.Key: NIOSSLContext] = [:]
        var routesByListener: [String: [ProxyRoute]] = [:]
        for (position, route) in loaded.config.routes.enumerated() {
            var profile: CredentialProfile?
            if let name = route.credential {
                profile = profiles.credentials[name]
                if profile == nil {
                    problems.append(ConfigIssue(.error, ConfigPath.root.key("routes").index(position).key("credential"), "credential profile \"\(name)\" is not running"))
                }
            }
            var validation: RouteValidation?
            if let rules = route.validate {
                let path = ConfigPath.root.key("routes").index(position).key("validate")
                let introspectionProfile = rules.introspection.flatMap { profiles.introspection[$0] }
                let jwtProfile = rules.jwt.flatMap { profiles.jwt[$0] }
                if let name = rules.introspection, introspectionProfile == nil {
                    problems.append(ConfigIssue(.error, path.key("introspection"), "introspection profile \"\(name)\" is not running"))
                } else if let name = rules.jwt, jwtProfile == nil {
                    problems.append(ConfigIssue(.error, path.key("jwt"), "JWT profile \"\(name)\" is not running"))
                } else {
                    validation = RouteValidation(rules: rules, introspection: introspectionProfile, jwt: jwtProfile, revocations: revocations)
                }
            }
            var loginProfile: LoginProfile?
            if let name = route.login {
                loginProfile = profiles.login[name]
                if loginProfile == nil {
                    problems.append(ConfigIssue(.error, ConfigPath.root.key("routes").index(position).key("login"), "login profile \"\(name)\" is not running"))
                }
            }
            let upstream = route.upstream
            let key = UpstreamEndpoint.Key(
                host: upstream.host, port: upstream.port, tls: upstream.isTLS,
                caFile: route.upstreamTLS.caFile, serverName: route.upstreamTLS.serverName, http2: route.upstreamProtocol != .http1
            )
            var context: NIOSSLContext?
            if upstream.isTLS {
                if let existing = contexts[key] {
                    context = existing
                } else {
                    do {
                        var tls = TLSConfiguration.makeClientConfiguration()
                        if let caFile = route.upstreamTLS.caFile { tls.trustRoots = .file(caFile) }
                        // An h2 upstream must agree to HTTP/2 by ALPN (checked after the handshake).
                        if key.http2 { tls.applicationProtocols = ["h2"] }
                        context = try NIOSSLContext(configuration: tls)
                        contexts[key] = context
                    } catch {
                        problems.append(ConfigIssue(.error, ConfigPath.root.key("routes").index(position).key("upstream_tls"), "cannot build the TLS client context (\(error))"))
                        continue
                    }
                }
            }
            let nameForTLS = route.upstreamTLS.serverName ?? upstream.host
            let endpoint = UpstreamEndpoint(
                key: key, tlsContext: context,
                serverHostname: IPAddress(nameForTLS) == nil ? nameForTLS : nil
            )
            routesByListener[route.listener, default: []].append(ProxyRoute(
                config: route, endpoint: endpoint,
                connectTimeout: TimeAmount(route.timeouts.connect),
                responseHeaderTimeout: TimeAmount(route.timeouts.responseHeader),
                idleTimeout: TimeAmount(route.timeouts.idle),
                upstreamAuthority: upstream.authority,
                credential: profile,
                validation: validation,
                metrics: metrics.route(listener: route.listener, route: route.name),
                login: loginProfile
            ))
        }
        if !problems.isEmpty {
            throw ConfigurationError(issues: problems, warnings: [], source: loaded.source)
        }
        var listeners: [String: RequestPlanner] = [:]
        for listener in loaded.config.listeners {
            listeners[listener.name] = RequestPlanner(
                listener: listener, router: Router(routes: routesByListener[listener.name] ?? []), identityNames: identityNames,
                loginCookies: loaded.config.login.isEmpty ? nil : LoginCookies.Names()
            )
        }
        self.listeners = listeners
    }

    /// The planner (settings and routing table) of a listener, if the listener exists.
    func planner(forListener name: String) -> RequestPlanner? {
        listeners[name]
    }
}

/// Holds the current snapshot. Reading it is a short uncontended lock, never an `await`;
/// a reload replaces it whole, and requests already running keep the one they read.
final class SnapshotStore: Sendable {
    private let box: NIOLockedValueBox<ConfigSnapshot>

    init(_ snapshot: ConfigSnapshot) {
        box = NIOLockedValueBox(snapshot)
    }

    var current: ConfigSnapshot { box.withLockedValue { $0 } }

    func replace(with snapshot: ConfigSnapshot) {
        box.withLockedValue { $0 = snapshot }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
