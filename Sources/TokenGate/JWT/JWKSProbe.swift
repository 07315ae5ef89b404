import NIOPosix

/// Fetches a JWT profile's key set once, outside any running gateway, for debugging a
/// profile against its issuer, and optionally checks one token with it (signature and
/// the profile's claim rules; a route's scopes are not known here).
public enum JWKSProbe {
    public static func probe(profileNamed name: String, from config: GatewayConfig, resolver: SecretResolver, token: String?) async throws(JWKSProbeError) -> JWKSReport {
        guard let settings = config.jwtProfile(named: name) else {
            let known = config.jwt.map(\.name)
            throw JWKSProbeError(description: "no JWT profile named \"\(name)\"" + (known.isEmpty ? " (none is defined)" : " (defined: \(known.joined(separator: ", ")))"))
        }
        let http = TokenEndpointClient.makeHTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let profile = JWTProfile(settings, metrics: GatewayMetrics().jwt(name))
        let result = await profile.loadOnce(client: JWKSClient(http: http), resolver: resolver)
        try? await http.shutdown()
        let keys: JWTKeySet
        let maxAge: Duration?
        switch result {
        case .success(let loaded): (keys, maxAge) = loaded
        case .failure(let error): throw JWKSProbeError(description: error.description)
        }
        var report = JWKSReport(
            jwksURL: profile.status.jwksURL ?? "?", keys: keys.keys.map { "\($0.id.isEmpty ? "(no kid)" : $0.id)  \($0.type)  \($0.algorithms.joined(separator: ","))" },
            skipped: keys.skipped, maxAgeSeconds: maxAge.map { Int($0.components.seconds) }
        )
        if let token {
            switch CompactJWT.parse(token) {
            case .failure(let malformed): report.verdict = "refused: \(malformed.description)"
            case .success(let jwt):
                switch profile.validate(jwt, token: token, key: TokenCacheKey(token: token), waiter: nil) {
                case .answer(let claims):
                    report.verdict = "valid: sub=\(claims.subject ?? "-") client_id=\(claims.clientID ?? "-") scope=\(claims.scope ?? "-") exp=\(claims.expiresAt.map(String.init) ?? "-")"
                case .refused(let reason): report.verdict = "refused: \(reason)"
                case .failed(let error): report.verdict = "not checked: \(error.description)"
                case .pending: report.verdict = "not checked"
                }
            }
        }
        return report
    }
}
