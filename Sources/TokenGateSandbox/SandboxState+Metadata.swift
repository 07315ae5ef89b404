/// The sandbox's `GET` documents: its key set and its metadata (OpenID Connect discovery
/// and RFC 8414 carry the same fields here), and the JWT access tokens it signs.
extension SandboxState {
    /// The answer for a metadata endpoint, nil for the others.
    func metadata(_ endpoint: SandboxAuthorizationServer.Endpoint, _ request: SandboxAuthorizationServer.RecordedRequest) -> SandboxResponse? {
        let base = baseURL.withLockedValue { $0 }
        switch endpoint {
        case .jwks:
            let (body, cacheControl) = jwt.jwks
            var response = SandboxResponse(status: 200, headers: [("Content-Type", "application/jwk-set+json")], body: body)
            if let cacheControl { response.headers.append(("Cache-Control", cacheControl)) }
            return response
        case .discovery, .metadata:
            return .json(200, [
                "issuer": base,
                "jwks_uri": base + SandboxAuthorizationServer.Endpoint.jwks.path,
                "token_endpoint": base + SandboxAuthorizationServer.Endpoint.token.path,
                "introspection_endpoint": base + SandboxAuthorizationServer.Endpoint.introspection.path,
                "revocation_endpoint": base + SandboxAuthorizationServer.Endpoint.revocation.path,
                "authorization_endpoint": base + SandboxAuthorizationServer.Endpoint.authorize.path,
                "end_session_endpoint": base + SandboxAuthorizationServer.Endpoint.endSession.path,
                "grant_types_supported": ["authorization_code", "client_credentials", "password", "refresh_token"],
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "subject_types_supported": ["public"],
                "scopes_supported": ["openid", "profile", "email"],
                "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            ])
        case .token, .introspection, .revocation, .authorize, .endSession:
            return nil
        }
    }

    func jwtClient(_ clientID: String) -> Bool { configuration.jwtClients.contains(clientID) }

    /// An RFC 9068 access token for `record`, signed with the current key.
    func jwtAccessToken(_ record: TokenRecord) -> String {
        let claims: [String: Any] = [
            "iss": baseURL.withLockedValue { $0 }, "sub": record.username ?? record.clientID,
            "aud": record.audience ?? configuration.jwtAudience, "client_id": record.clientID, "scope": record.scope,
            "iat": record.issuedAt, "exp": record.expiresAt, "jti": Self.randomToken(),
        ]
        // The current key always exists (one is made at start), so signing cannot fail.
        return (try? jwt.sign(header: ["typ": "at+jwt"], claims: claims, signing: .currentKey)) ?? Self.randomToken()
    }
}
