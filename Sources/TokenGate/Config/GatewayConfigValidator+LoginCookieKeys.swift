/// The rule that two login profiles a browser reaches on one host do not share a cookie
/// key.
///
/// Each profile's cookies are bound to it (`CookieScope`: its name and issuer are in every
/// cookie name and sealed value), so a shared key no longer lets one profile's session open
/// on the other's routes; the check keeps it that way for every layout, and keeps one
/// profile's key from being the other's to lose.
///
/// "One host" is what a browser keeps cookies by: the host name, whatever the port, scheme
/// or listener (RFC 6265 §8.5). A profile's cookies live on its `external_url`'s host when
/// it has one (the callback sets the session there); otherwise on the `match.host` of each
/// route that uses it, and a route without `match.host` serves every host, so it shares a
/// host with every other profile. A key is the same when both its id and its secret are
/// (the key is derived from the two); with `--no-secrets`, when both name the same secret.
extension GatewayConfigValidator {
    func checkLoginCookieKeysPerHost(_ config: GatewayConfig) {
        var earlier: [(profile: String, hosts: CookieHosts, keys: Set<KeyIdentity>)] = []
        for profile in config.login {
            let hosts = CookieHosts(profile, routes: config.routes)
            var keys: Set<KeyIdentity> = []
            for (position, key) in profile.cookieKeys.enumerated() {
                let identity = keyIdentity(key)
                keys.insert(identity)
                for other in earlier where other.keys.contains(identity) {
                    guard let shared = hosts.shared(with: other.hosts) else { continue }
                    diagnostics.error(
                        .root.key("login").key(profile.name).key("cookie_keys").index(position),
                        "the same key (id \"\(key.id)\" and its secret) as login profile \"\(other.profile)\", and a browser reaches both on \(shared) (browsers keep cookies per host name, whatever the port or listener); give each login profile on a host cookie keys of its own"
                    )
                }
            }
            earlier.append((profile.name, hosts, keys))
        }
    }

    private func keyIdentity(_ key: LoginProfileConfig.CookieKey) -> KeyIdentity {
        if resolver.readsSecrets, let secret = try? resolver.resolve(key.secret) { return .secret(id: key.id, secret) }
        return .reference(id: key.id, key.secret)
    }
}

/// A cookie key as far as sealing goes: its id and its secret (or, unread, its reference).
private enum KeyIdentity: Hashable {
    case secret(id: String, Redacted)
    case reference(id: String, SecretReference)
}

/// The host names under which a browser holds a login profile's cookies.
private enum CookieHosts {
    /// A route without `match.host` and no `external_url`: whatever host the request names.
    case any
    case names(Set<String>)

    init(_ profile: LoginProfileConfig, routes: [RouteConfig]) {
        if let external = profile.externalURL {
            self = .names([external.host])
            return
        }
        let served = routes.filter { $0.login == profile.name }
        if served.contains(where: { $0.host == nil }) {
            self = .any
        } else {
            self = .names(Set(served.compactMap(\.host)))
        }
    }

    /// A description of a host both serve, or nil when they share none.
    func shared(with other: CookieHosts) -> String? {
        switch (self, other) {
        case (.any, .any): return "every host (routes without match.host)"
        case (.any, .names(let names)), (.names(let names), .any): return names.sorted().first.map { "host \"\($0)\"" }
        case (.names(let mine), .names(let theirs)): return mine.intersection(theirs).sorted().first.map { "host \"\($0)\"" }
        }
    }
}
