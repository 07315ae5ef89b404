/// The live profiles of one configuration, by kind and by name: credential profiles
/// (egress tokens), introspection and JWT profiles (ingress validation) and login
/// profiles (browser sessions).
///
/// Profiles outlive snapshots: a reload keeps every profile whose settings did not
/// change, with its token, keys and caches, and replaces the rest (`reconciled`). Start,
/// reload, stop, readiness and `/status` handle the four kinds through this one value, so
/// a fifth kind is added here and nowhere else in `Runtime/`.
struct Profiles: Sendable {
    var credentials: [String: CredentialProfile]
    var introspection: [String: IntrospectionProfile]
    var jwt: [String: JWTProfile]
    var login: [String: LoginProfile]

    init(
        credentials: [String: CredentialProfile] = [:], introspection: [String: IntrospectionProfile] = [:],
        jwt: [String: JWTProfile] = [:], login: [String: LoginProfile] = [:]
    ) {
        self.credentials = credentials
        self.introspection = introspection
        self.jwt = jwt
        self.login = login
    }

    /// The profiles `config` declares: each of these whose settings are unchanged, and a new
    /// one otherwise; `started` holds the new ones (their loops are not running yet). A new
    /// login profile takes over what the one it replaces knows of ended sessions
    /// (`LoginProfile.inherit(from:)`), so a reload cannot revive a logged-out cookie.
    /// Called on empty profiles, every profile is new.
    func reconciled(
        with config: GatewayConfig, resolver: SecretResolver, metrics: GatewayMetrics
    ) -> (all: Profiles, started: Profiles) {
        var all = Profiles()
        var started = Profiles()
        all.credentials = Self.reconcile(
            config.credentials, with: credentials, started: &started.credentials, name: \.name, config: \.config,
            make: { CredentialProfile($0, metrics: metrics.credential($0.name)) }
        )
        all.introspection = Self.reconcile(
            config.introspection, with: introspection, started: &started.introspection, name: \.name, config: \.config,
            make: { IntrospectionProfile($0, metrics: metrics.introspection($0.name)) }
        )
        all.jwt = Self.reconcile(
            config.jwt, with: jwt, started: &started.jwt, name: \.name, config: \.config,
            make: { JWTProfile($0, metrics: metrics.jwt($0.name)) }
        )
        all.login = Self.reconcile(
            config.login, with: login, started: &started.login, name: \.name, config: \.config,
            make: { LoginProfile($0, resolver: resolver, metrics: metrics) }
        )
        for (name, fresh) in started.login {
            if let old = login[name] { fresh.inherit(from: old) }
        }
        return (all, started)
    }

    /// The profiles held here that `kept` does not hold (by name and identity): after a
    /// reload, the replaced and the removed ones, whose loops must end.
    func retired(keeping kept: Profiles) -> Profiles {
        Profiles(
            credentials: credentials.filter { kept.credentials[$0.key] !== $0.value },
            introspection: introspection.filter { kept.introspection[$0.key] !== $0.value },
            jwt: jwt.filter { kept.jwt[$0.key] !== $0.value },
            login: login.filter { kept.login[$0.key] !== $0.value }
        )
    }

    /// Ends every profile's control-plane loop and answers the requests still waiting on
    /// one (a token, an introspection call, a key set, a login's work), so none is left
    /// hanging.
    func stop() {
        for profile in credentials.values { profile.stop() }
        for profile in introspection.values { profile.finish() }
        for profile in jwt.values { profile.finish() }
        for profile in login.values {
            profile.finish()
            profile.idTokens.finish()
        }
    }

    /// The key sets readiness waits for: each JWT profile's, and each login profile's
    /// provider keys (which check its ID tokens).
    var keySets: [JWTProfile] {
        Array(jwt.values) + login.values.map(\.idTokens)
    }

    /// The live objects for `configs`: the existing one where its configuration is
    /// unchanged, a new one (also added to `started`) otherwise.
    private static func reconcile<Config: Equatable, Live: AnyObject>(
        _ configs: [Config], with existing: [String: Live], started: inout [String: Live],
        name: (Config) -> String, config: (Live) -> Config, make: (Config) -> Live
    ) -> [String: Live] {
        var all: [String: Live] = [:]
        for wanted in configs {
            let key = name(wanted)
            if let live = existing[key], config(live) == wanted {
                all[key] = live
            } else {
                let fresh = make(wanted)
                all[key] = fresh
                started[key] = fresh
            }
        }
        return all
    }
}
