import AsyncHTTPClient
import NIOPosix

/// Obtains one token with a profile's settings, outside any running gateway, for
/// debugging a profile against its authorization server.
public enum TokenProbe {
    public static func obtain(profileNamed name: String, from config: GatewayConfig, resolver: SecretResolver) async throws(TokenProbeError) -> ObtainedToken {
        guard let profile = config.credential(named: name) else {
            let known = config.credentials.map(\.name)
            throw TokenProbeError(description: "no credential profile named \"\(name)\"" + (known.isEmpty ? " (none is defined)" : " (defined: \(known.joined(separator: ", ")))"))
        }
        let secret: Redacted
        var password: Redacted?
        do {
            secret = try resolver.resolve(profile.clientSecret)
            if let reference = profile.password { password = try resolver.resolve(reference) }
        } catch {
            throw TokenProbeError(description: "credentials.\(name): \(error.description)")
        }
        let http = TokenEndpointClient.makeHTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let kind: TokenRequest.Kind = profile.grant == .password ? .password : .clientCredentials
        let request = TokenRequest.make(kind, profile: profile, clientSecret: secret, password: password, refreshToken: nil)
        let result = await TokenEndpointClient(http: http).send(request, timeout: profile.timeout, caFile: profile.caFile)
        try? await http.shutdown()
        switch result {
        case .success(let issued):
            return ObtainedToken(tokenType: issued.tokenType, scope: issued.scope, expiresIn: issued.expiresIn, token: issued.accessToken)
        case .failure(let error):
            throw TokenProbeError(description: error.detail)
        }
    }
}
