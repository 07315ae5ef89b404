import Testing
@testable import TokenGate

/// A document with one JWT profile (its body `PROFILE`) used by one route (`VALIDATE`).
private func jwtDocument(profile: String = #""issuer": "https://idp.example.com", "audience": "https://orders.example.com""#, validate: String = #""jwt": "idp""#) -> String {
    """
    { "listeners": { "ingress": { "address": "0.0.0.0:8080" } },
      "jwt": { "idp": { \(profile) } },
      "routes": [ { "name": "orders", "listener": "ingress", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:3000",
                    "validate": { \(validate) } } ] }
    """
}

private func load(_ json: String, environment: [String: String] = [:]) -> Result<LoadedConfig, ConfigurationError> {
    loadConfig(json, environment: environment)
}

private func errors(_ json: String, environment: [String: String] = [:]) -> [String] {
    configErrors(json, environment: environment)
}

@Suite("jwt profiles in gateway.json")
struct JWTConfigTests {
    @Test("defaults: every asymmetric algorithm, typ at+jwt, 60 s skew, discovery, bounded refresh")
    func defaults() throws {
        let loaded = try load(jwtDocument()).get()
        let profile = try #require(loaded.config.jwt.first)
        #expect(profile.algorithms == JWTProfileConfig.asymmetricAlgorithms)
        #expect(!profile.algorithms.contains("none") && !profile.algorithms.contains("HS256"))
        #expect(profile.types == ["at+jwt"])
        #expect(profile.clockSkew == 60)
        #expect(profile.jwksURL == nil)
        #expect(profile.audiences == ["https://orders.example.com"])
        #expect(profile.unknownKidInterval == .seconds(10))
        #expect(loaded.config.routes.first?.validate?.jwt == "idp")
        #expect(loaded.config.routes.first?.validate?.introspection == nil)
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
    }

    @Test("the audience is required unless waived, and waiving it is warned about")
    func audienceRequired() throws {
        #expect(errors(jwtDocument(profile: #""issuer": "https://idp.example.com""#)).contains { $0.hasPrefix("jwt.idp.audience: required") })
        let waived = try load(jwtDocument(profile: #""issuer": "https://idp.example.com", "allow_any_audience": true"#)).get()
        #expect(waived.warnings.contains { $0.description.hasPrefix("jwt.idp.allow_any_audience:") })
        let many = try load(jwtDocument(profile: #""issuer": "https://idp.example.com", "audience": ["a", "b"]"#)).get()
        #expect(many.config.jwt.first?.audiences == ["a", "b"])
    }

    @Test("algorithms: none is never accepted, HMAC only with a secret, unknown names get a suggestion")
    func algorithms() throws {
        let base = #""issuer": "https://idp.example.com", "audience": "a", "#
        #expect(errors(jwtDocument(profile: base + #""algorithms": ["none"]"#)).contains { $0.hasPrefix("jwt.idp.algorithms[0]: \"none\" means an unsigned token") })
        #expect(errors(jwtDocument(profile: base + #""algorithms": ["HS256"]"#)).contains { $0.hasPrefix("jwt.idp.algorithms[0]: HS256 needs \"hmac_secret\"") })
        #expect(errors(jwtDocument(profile: base + #""algorithms": ["RS265"]"#)).contains { $0.contains(#"did you mean "RS256"?"#) })
        let hmac = try load(jwtDocument(profile: base + #""algorithms": ["HS256", "RS256"], "hmac_secret": { "env": "K" }"#), environment: ["K": "a-long-shared-secret"]).get()
        #expect(hmac.config.jwt.first?.algorithms == ["HS256", "RS256"])
        #expect(errors(jwtDocument(profile: base + #""hmac_secret": { "env": "MISSING" }"#)).contains { $0.hasPrefix("jwt.idp.hmac_secret:") })
    }

    @Test("plain http to a remote issuer or jwks_uri is refused; loopback is fine")
    func plainHTTP() {
        #expect(errors(jwtDocument(profile: #""issuer": "http://idp.example.com", "audience": "a""#)).contains { $0.hasPrefix("jwt.idp.issuer: plain http") })
        #expect(errors(jwtDocument(profile: #""issuer": "https://idp.example.com", "jwks_uri": "http://keys.example.com/jwks", "audience": "a""#))
            .contains { $0.hasPrefix("jwt.idp.jwks_uri: plain http") })
        #expect(errors(jwtDocument(profile: #""issuer": "http://127.0.0.1:9000", "audience": "a""#)).isEmpty)
    }

    @Test("a route names a JWT profile, an introspection profile or both; dangling names are errors")
    func routeReferences() {
        #expect(errors(jwtDocument(validate: #""required_scopes": ["a"]"#)).contains { $0.hasPrefix(#"routes[0].validate: name a "jwt" profile"#) })
        #expect(errors(jwtDocument(validate: #""jwt": "ipd""#)).contains { $0.contains(#"no JWT profile named "ipd", did you mean "idp"?"#) })
        #expect(errors(jwtDocument(validate: #""jwt": "idp", "introspection": "rs""#)).contains { $0.hasPrefix("routes[0].validate.introspection: no introspection profile named") })
    }

    @Test("types: at least one; \"JWT\" is warned about (ID tokens carry it too)")
    func types() throws {
        let base = #""issuer": "https://idp.example.com", "audience": "a", "#
        #expect(errors(jwtDocument(profile: base + #""types": []"#)).contains { $0.hasPrefix("jwt.idp.types: list at least one") })
        let loose = try load(jwtDocument(profile: base + #""types": ["at+jwt", "JWT"]"#)).get()
        #expect(loose.warnings.contains { $0.description.hasPrefix("jwt.idp.types:") })
    }

    @Test("bounds: clock skew at most 300 s, refresh bounds ordered")
    func bounds() {
        let base = #""issuer": "https://idp.example.com", "audience": "a", "#
        #expect(errors(jwtDocument(profile: base + #""clock_skew_seconds": 3600"#)).contains { $0.hasPrefix("jwt.idp.clock_skew_seconds:") })
        #expect(errors(jwtDocument(profile: base + #""jwks": { "min_refresh_seconds": 600, "max_refresh_seconds": 60 }"#))
            .contains { $0.hasPrefix("jwt.idp.jwks.min_refresh_seconds:") })
    }
}
