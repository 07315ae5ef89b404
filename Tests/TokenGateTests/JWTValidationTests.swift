import Foundation
@testable import TokenGate
import Testing
import TokenGateSandbox

/// A gateway validating the sandbox's JWT access tokens locally: `/api/` with the JWT
/// profile alone, `/mixed/` with the JWT profile and introspection.
struct JWTSetup {
    static let audience = "https://api.sandbox.test"

    let idp: SandboxAuthorizationServer
    let echo: EchoUpstream
    let gateway: TestGateway

    /// The demo sandbox, issuing JWTs to `demo-caller`.
    static func startSandbox() async throws -> SandboxAuthorizationServer {
        var configuration = SandboxAuthorizationServer.Configuration.demo
        configuration.jwtClients = ["demo-caller"]
        return try await TokenGateTests.startSandbox(configuration)
    }

    static func start(profileExtras: String = "", listenerExtras: String = "", idp existing: SandboxAuthorizationServer? = nil) async throws -> JWTSetup {
        let idp = if let existing { existing } else { try await startSandbox() }
        let echo = try await EchoUpstream.start()
        let upstream = "http://127.0.0.1:\(echo.port)/"
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0"\(listenerExtras) } }, "admin": { "address": "127.0.0.1:0" },
          "jwt": { "idp": { "issuer": "\(idp.issuer)", "audience": "\(audience)"\(profileExtras) } },
          "introspection": { "rs": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs", "client_secret": { "env": "RS_SECRET" } } },
          "routes": [
            { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "upstream": "\(upstream)",
              "validate": { "jwt": "idp", "required_scopes": ["legacy:use"], "identity_headers": { "X-Auth-Subject": "sub", "X-Auth-Scope": "scope", "X-Auth-Client-Id": "client_id", "X-Groups": "groups" } } },
            { "name": "mixed", "listener": "main", "match": { "path_prefix": "/mixed/" }, "upstream": "\(upstream)",
              "validate": { "jwt": "idp", "introspection": "rs", "audience": "\(audience)" } } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["RS_SECRET": "demo-introspection-secret"])
        return JWTSetup(idp: idp, echo: echo, gateway: gateway)
    }

    func request(_ path: String, token: String?) async throws -> TestResponse {
        let connection = try await gateway.connect()
        let authorization = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        try await connection.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\(authorization)Connection: close\r\n\r\n")
        let response = try #require(try await connection.readResponse())
        await connection.close()
        return response
    }

    /// Standard RFC 9068 claims, changed by `changes` (a nil value removes the claim).
    func claims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        let now = Int(Date().timeIntervalSince1970)
        var claims: [String: Any] = [
            "iss": idp.issuer, "sub": "alice", "aud": Self.audience, "client_id": "demo-caller", "scope": "legacy:use profile",
            "iat": now, "exp": now + 600, "jti": UUID().uuidString,
        ]
        for (key, value) in changes { claims[key] = value }
        return claims
    }

    func admin(_ path: String) async throws -> TestResponse { try await gateway.admin(path) }

    func stop() async {
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }
}

@Suite("JWT access tokens validated locally against the sandbox's keys")
struct JWTValidationTests {
    @Test("a valid JWT passes without introspection; the upstream sees its claims; the second request is a cache hit")
    func validToken() async throws {
        let setup = try await JWTSetup.start()
        let token = try setup.idp.mintJWT(claims: setup.claims(["groups": ["admins", "ops"]]))
        let first = try await setup.request("/api/x", token: token)
        #expect(first.status == 200)
        let seen = try #require(EchoReport(first))
        #expect(seen.header("x-auth-subject") == "alice")
        #expect(seen.header("x-auth-scope") == "legacy:use profile")
        #expect(seen.header("x-auth-client-id") == "demo-caller")
        #expect(seen.header("x-groups") == "admins,ops")
        #expect(seen.header("authorization") == nil)
        #expect(try await setup.request("/api/x", token: token).status == 200)
        #expect(setup.idp.calls(.introspection) == 0)
        let metrics = try await setup.admin("/metrics").bodyText
        #expect(metrics.contains(#"tokengate_jwt_validations_total{profile="idp",outcome="valid"} 1"#))
        #expect(metrics.contains(#"tokengate_jwt_cache_hits_total{profile="idp"} 1"#))
        #expect(metrics.contains(#"tokengate_jwks_fetches_total{profile="idp",outcome="success"} 1"#))
        LeakWatch.expectNoLeaks(in: metrics, "/metrics")
        await setup.stop()
    }

    @Test("a token endpoint JWT works for the sandbox's JWT clients, and a missing scope gets 403")
    func issuedToken() async throws {
        let setup = try await JWTSetup.start()
        let token = setup.idp.jwtAccessToken(clientID: "demo-caller", scope: "legacy:use", subject: "bob", audience: JWTSetup.audience)
        #expect(try await setup.request("/api/x", token: token).status == 200)
        let narrow = setup.idp.jwtAccessToken(clientID: "demo-caller", scope: "profile", audience: JWTSetup.audience)
        let refused = try await setup.request("/api/x", token: narrow)
        #expect(refused.status == 403)
        #expect(refused.header("www-authenticate")?.contains(#"error="insufficient_scope""#) == true)
        await setup.stop()
    }

    @Test("each bad token gets 401 invalid_token naming what is wrong, and never reaches the upstream")
    func refusals() async throws {
        let setup = try await JWTSetup.start()
        let now = Int(Date().timeIntervalSince1970)
        let idp = setup.idp
        let cases: [(String, String, String)] = [
            ("expired", try idp.mintJWT(claims: setup.claims(["exp": now - 120, "iat": now - 900])), "expired"),
            ("not yet valid", try idp.mintJWT(claims: setup.claims(["nbf": now + 600])), "not valid yet"),
            ("issued in the future", try idp.mintJWT(claims: setup.claims(["iat": now + 600])), "issued in the future"),
            ("no exp", try idp.mintJWT(claims: setup.claims(["exp": nil])), "no expiry"),
            ("wrong audience", try idp.mintJWT(claims: setup.claims(["aud": "https://other.example"])), "audience"),
            ("other issuer", try idp.mintJWT(claims: setup.claims(["iss": "https://evil.example"])), "another issuer"),
            ("ID token (typ JWT)", try idp.mintJWT(header: ["typ": "JWT"], claims: setup.claims(["nonce": "n"])), "not an access token"),
            ("ID token (no typ)", try idp.mintJWT(header: [:], claims: setup.claims()), "not an access token"),
            ("alg none", try idp.mintJWT(claims: setup.claims(), signing: .unsigned), "algorithm is not accepted"),
            ("HS256 keyed with the public key", try idp.mintJWT(claims: setup.claims(), signing: .hmacWithPublicKey(kid: nil)), "algorithm is not accepted"),
            ("critical extension", try idp.mintJWT(header: ["typ": "at+jwt", "crit": ["exp"]], claims: setup.claims()), "crit"),
            ("not a JWT", "opaque-token-value", "not a JWT"),
        ]
        for (name, token, reason) in cases {
            let response = try await setup.request("/api/x", token: token)
            #expect(response.status == 401, "\(name)")
            #expect(response.header("www-authenticate") == #"Bearer realm="tokengate", error="invalid_token""#, "\(name)")
            #expect(response.bodyText.contains(reason), "\(name): \(response.bodyText)")
        }
        // A valid token with one byte of its signature changed (mid-signature: the last
        // character's low bits are padding and decode to the same bytes).
        let good = Array(try idp.mintJWT(claims: setup.claims()))
        var changed = good
        let middle = good.count - 20
        changed[middle] = good[middle] == "A" ? "B" : "A"
        let flipped = String(changed)
        let tampered = try await setup.request("/api/x", token: flipped)
        #expect(tampered.status == 401)
        #expect(tampered.bodyText.contains("signature is not valid"))
        #expect(setup.echo.requestCount == 0)
        await setup.stop()
    }

    @Test("trap: a token with an unknown kid is refused, never tried against another key (it is signed with a real one)")
    func unknownKidIsNotDefaulted() async throws {
        let setup = try await JWTSetup.start()
        let forged = try setup.idp.mintJWT(header: ["typ": "at+jwt", "kid": "no-such-key"], claims: setup.claims())
        let response = try await setup.request("/api/x", token: forged)
        #expect(response.status == 401)
        #expect(response.bodyText.contains("not in the issuer's key set"))
        // Without a kid, the one key of the set that fits the algorithm is used.
        let bare = try setup.idp.mintJWT(header: ["typ": "at+jwt", "kid": NSNull()], claims: setup.claims())
        #expect(try await setup.request("/api/x", token: bare).status == 401, "a kid of null is not a string")
        await setup.stop()
    }

    @Test("trap: a forged RS512 token for an RSA key published without alg does not break that key's RS256 tokens")
    func algorithmIsPinnedPerKey() async throws {
        let setup = try await JWTSetup.start()
        let kid = try await setup.idp.addSigningKey(.rs256, publishAlgorithm: false, current: true)
        let forged = try setup.idp.mintJWT(header: ["typ": "at+jwt", "alg": "RS512", "kid": kid], claims: setup.claims(), signing: .currentKey)
        let refused = try await setup.request("/api/x", token: forged)
        #expect(refused.status == 401)
        #expect(refused.bodyText.contains("signature is not valid"))
        for _ in 0..<3 {
            let valid = try setup.idp.mintJWT(claims: setup.claims())
            #expect(try await setup.request("/api/x", token: valid).status == 200)
        }
        await setup.stop()
    }

    @Test("rotation: a token signed with a new key makes one refetch and passes; forged kids cannot make the gateway hammer the issuer")
    func rotation() async throws {
        // An interval no test run outlasts: "inside the interval" must not depend on speed.
        let setup = try await JWTSetup.start(profileExtras: #", "jwks": { "unknown_kid_interval_seconds": 3600 }"#)
        let old = try setup.idp.mintJWT(claims: setup.claims())
        #expect(try await setup.request("/api/x", token: old).status == 200)
        let fetchesBefore = setup.idp.calls(.jwks)
        let oldKid = setup.idp.currentSigningKeyID
        _ = try await setup.idp.addSigningKey()
        let fresh = try setup.idp.mintJWT(claims: setup.claims())
        #expect(try await setup.request("/api/x", token: fresh).status == 200)
        #expect(setup.idp.calls(.jwks) == fetchesBefore + 1)
        #expect(try await setup.request("/api/x", token: old).status == 200, "the old key is still published")
        // Twenty tokens with made-up kids inside the refetch interval: no more fetches.
        for number in 0..<20 {
            let forged = try setup.idp.mintJWT(header: ["typ": "at+jwt", "kid": "forged-\(number)"], claims: setup.claims())
            #expect(try await setup.request("/api/x", token: forged).status == 401)
        }
        #expect(setup.idp.calls(.jwks) == fetchesBefore + 1)
        let metrics = try await setup.admin("/metrics").bodyText
        #expect(metrics.contains(#"tokengate_jwt_validations_total{profile="idp",outcome="unknown_key"} 20"#))
        // /status lists both keys by id, with their algorithms.
        let status = try #require(try JSONSerialization.jsonObject(with: Data(try await setup.admin("/status").body)) as? [String: Any])
        let profile = try #require((status["jwt"] as? [[String: Any]])?.first)
        let keys = try #require(profile["keys"] as? [[String: Any]])
        #expect(Set(keys.compactMap { $0["kid"] as? String }) == [oldKid, setup.idp.currentSigningKeyID])
        #expect(keys.allSatisfy { ($0["algorithms"] as? [String]) == ["ES256"] })
        #expect(profile["last_fetch_succeeded"] as? Bool == true)
        #expect(profile["next_refresh_at"] is String)
        await setup.stop()
    }

    @Test("a key withdrawn from the set stops its tokens at the next refresh, cached or not (max-age drives the refresh)")
    func withdrawnKey() async throws {
        let idp = try await JWTSetup.startSandbox()
        idp.setJWKSCacheControl("max-age=1")
        let setup = try await JWTSetup.start(profileExtras: #", "jwks": { "min_refresh_seconds": 0.2 }"#, idp: idp)
        let oldKid = idp.currentSigningKeyID
        let old = try idp.mintJWT(claims: setup.claims())
        #expect(try await setup.request("/api/x", token: old).status == 200)
        _ = try await idp.addSigningKey()
        idp.retireSigningKey(oldKid)
        let fetches = idp.calls(.jwks)
        #expect(await eventually(within: .seconds(10)) { idp.calls(.jwks) > fetches + 1 })
        let refused = try await setup.request("/api/x", token: old)
        #expect(refused.status == 401)
        #expect(try await setup.request("/api/x", token: try idp.mintJWT(claims: setup.claims())).status == 200)
        await setup.stop()
    }

    @Test("with jwt and introspection, opaque tokens are introspected and JWTs are checked locally")
    func mixedRoute() async throws {
        let setup = try await JWTSetup.start()
        let opaque = setup.idp.issueToken(clientID: "billing-svc", scope: "invoices:read", audience: JWTSetup.audience)
        #expect(try await setup.request("/mixed/x", token: opaque).status == 200)
        #expect(setup.idp.calls(.introspection) == 1)
        let jwt = try setup.idp.mintJWT(claims: setup.claims())
        #expect(try await setup.request("/mixed/x", token: jwt).status == 200)
        #expect(setup.idp.calls(.introspection) == 1)
        // A JWT from its issuer that fails is refused, not handed to introspection.
        let expired = try setup.idp.mintJWT(claims: setup.claims(["exp": 1000]))
        #expect(try await setup.request("/mixed/x", token: expired).status == 401)
        #expect(setup.idp.calls(.introspection) == 1)
        await setup.stop()
    }

    @Test("key set unreachable: 503 jwks_unavailable and not ready; once it answers, tokens pass and readiness follows")
    func keySetDown() async throws {
        let idp = try await JWTSetup.startSandbox()
        idp.setFault(.status(503), on: .jwks)
        let setup = try await JWTSetup.start(profileExtras: #", "jwks": { "refresh_seconds": 0.5 }"#, idp: idp)
        #expect(await eventually { idp.calls(.jwks) >= 1 })
        let token = try idp.mintJWT(claims: setup.claims())
        let refused = await eventually {
            guard let response = try? await setup.request("/api/x", token: token) else { return false }
            return response.status == 503 && response.header("retry-after") == "5" && gatewayError(response)?.error == "jwks_unavailable"
        }
        #expect(refused)
        #expect(try await setup.admin("/readyz").status == 503)
        idp.setFault(nil, on: .jwks)
        #expect(await eventually(within: .seconds(10)) { (try? await setup.request("/api/x", token: token).status) == 200 })
        #expect(try await setup.admin("/readyz").status == 200)
        #expect(setup.echo.requestCount == 1)
        await setup.stop()
    }

    @Test("discovery: without jwks_uri the key set is found from the issuer's metadata")
    func discovery() async throws {
        let setup = try await JWTSetup.start()
        #expect(try await setup.request("/api/x", token: try setup.idp.mintJWT(claims: setup.claims())).status == 200)
        #expect(setup.idp.calls(.discovery) == 1)
        let status = try #require(try JSONSerialization.jsonObject(with: Data(try await setup.admin("/status").body)) as? [String: Any])
        #expect((status["jwt"] as? [[String: Any]])?.first?["jwks_uri"] as? String == setup.idp.jwksURL)
        // `tokengate status` shows the profile's keys and its last fetch.
        let printed = try await runTokenGate(["status", "--admin", "http://127.0.0.1:\(setup.gateway.gateway.adminPort ?? 0)"])
        let tables = printed.stdout.components(separatedBy: "\n\n").map { $0.split(separator: "\n").map(String.init) }
        let jwt = try #require(tables.first { $0.first?.hasPrefix("JWT ") == true })
        #expect(jwt.contains { $0.hasPrefix("idp ") && $0.contains("\(setup.idp.currentSigningKeyID) (ES256)") && $0.contains(" ok ") }, "\(jwt)")
        await setup.stop()
    }

    @Test("a reload keeps an unchanged JWT profile's keys and cache; a changed profile starts afresh and applies at once")
    func reload() async throws {
        let idp = try await JWTSetup.startSandbox()
        let echo = try await EchoUpstream.start()
        func document(audience: String, extraRoute: String = "") -> String {
            """
            { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
              "jwt": { "idp": { "issuer": "\(idp.issuer)", "audience": "\(audience)" } },
              "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/api/" }, "upstream": "http://127.0.0.1:\(echo.port)",
                            "validate": { "jwt": "idp" } }\(extraRoute) ] }
            """
        }
        let watched = try await WatchedGateway.start(document(audience: JWTSetup.audience), watch: false)
        let now = Int(Date().timeIntervalSince1970)
        let token = try idp.mintJWT(claims: ["iss": idp.issuer, "sub": "alice", "aud": JWTSetup.audience, "iat": now, "exp": now + 600])
        func status() async throws -> Int {
            try await RawHTTPConnection.roundTrip(port: watched.gateway.port(ofListener: "main") ?? 0, "GET /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n")?.status ?? 0
        }
        #expect(try await status() == 200)
        let live = try #require(watched.gateway.jwtProfile(named: "idp"))
        try document(audience: JWTSetup.audience, extraRoute: #", { "name": "other", "listener": "main", "match": { "path_prefix": "/other/" }, "upstream": "http://127.0.0.1:1" }"#)
            .write(toFile: watched.path, atomically: true, encoding: .utf8)
        #expect(await watched.gateway.reload(trigger: "test").succeeded)
        #expect(watched.gateway.jwtProfile(named: "idp") === live, "unchanged profile kept")
        #expect(try await status() == 200)
        #expect(idp.calls(.jwks) == 1)
        try document(audience: "https://elsewhere.test").write(toFile: watched.path, atomically: true, encoding: .utf8)
        #expect(await watched.gateway.reload(trigger: "test").succeeded)
        #expect(watched.gateway.jwtProfile(named: "idp") !== live)
        #expect(try await status() == 401, "the new audience applies to a token the old profile had cached")
        await watched.stop()
        await echo.stop()
        await idp.stop()
    }
}
