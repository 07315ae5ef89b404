import Foundation
import Testing
import TokenGateSandbox

@Suite("Interop: JWT access tokens from django-oauth-toolkit, validated locally", .serialized)
struct InteropJWTTests {
    static let audience = "https://orders.interop.test"

    @Test("discovery and JWKS from DOT: its RFC 9068 tokens pass; each broken or hostile token gets the right answer; a rotated key is picked up")
    func jwtAtDOT() async throws {
        let dot = try await DjangoOAuthToolkit.start(tokenLifetime: 300, jwtAccessTokens: true)
        defer { dot.stop() }
        let echo = try await EchoUpstream.start()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "jwt": { "dot": { "issuer": "\(dot.issuer)", "audience": "\(Self.audience)", "algorithms": ["RS256"] } },
          "routes": [ { "name": "orders", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)",
                        "validate": { "jwt": "dot", "required_scopes": ["legacy:use"] } } ] }
        """
        let gateway = try await TestGateway.start(config)
        func get(_ token: String) async throws -> TestResponse {
            let client = try await gateway.connect()
            try await client.send("GET /orders HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\nX-Auth-Subject: forged\r\n\r\n")
            let response = try #require(try await client.readResponse())
            await client.close()
            return response
        }

        // DOT's own token endpoint issues the JWT.
        let token = try await dot.clientCredentialsToken(DjangoOAuthToolkit.caller, scope: "legacy:use")
        #expect(token.split(separator: ".").count == 3, "DOT issued a JWT")
        let passed = try await get(token)
        #expect(passed.status == 200)
        let seen = try #require(EchoReport(passed))
        #expect(seen.values("x-auth-subject") == [DjangoOAuthToolkit.caller.id])
        #expect(seen.header("x-auth-scope") == "legacy:use")
        #expect(seen.header("x-auth-client-id") == DjangoOAuthToolkit.caller.id)
        #expect(try await get(try await dot.clientCredentialsToken(DjangoOAuthToolkit.caller, scope: "invoices:read")).status == 403)

        // Rotation: DOT publishes a new key (the old one stays); a token signed with it
        // passes after the one refetch an unknown kid allows (the forged kid below,
        // inside the refetch interval, then causes none).
        let newKid = try await dot.rotateSigningKey()
        let rotated = try await dot.clientCredentialsToken(DjangoOAuthToolkit.caller, scope: "legacy:use")
        #expect(try await get(rotated).status == 200, "signed with \(newKid)")
        #expect(try await get(token).status == 200, "the old key is still published")

        let now = Int(Date().timeIntervalSince1970)
        func claims(_ changes: [String: Any?] = [:]) -> [String: Any] {
            var claims: [String: Any] = [
                "iss": dot.issuer, "sub": "crm-sync", "aud": Self.audience, "client_id": "demo-caller", "scope": "legacy:use",
                "iat": now, "exp": now + 300, "jti": UUID().uuidString,
            ]
            for (key, value) in changes { claims[key] = value }
            return claims
        }
        let cases: [(String, String, String)] = [
            ("expired", try await dot.mintJWT(claims: claims(["exp": now - 300, "iat": now - 900])), "expired"),
            ("not yet valid", try await dot.mintJWT(claims: claims(["nbf": now + 900])), "not valid yet"),
            ("wrong audience", try await dot.mintJWT(claims: claims(["aud": "https://billing.interop.test"])), "audience"),
            ("wrong issuer", try await dot.mintJWT(claims: claims(["iss": "http://127.0.0.1:1/o"])), "another issuer"),
            // The shape of DOT's ID tokens: RS256 with its key, no typ, aud = the client.
            ("ID token", try await dot.mintJWT(header: [:], claims: claims(["aud": "demo-caller", "nonce": "n", "azp": "demo-caller"])), "not an access token"),
            ("alg none", try await dot.mintJWT(claims: claims(), signing: "none"), "algorithm is not accepted"),
            ("HS256 with the public key", try await dot.mintJWT(claims: claims(), signing: "hs256-public"), "algorithm is not accepted"),
            ("unknown kid", try await dot.mintJWT(header: ["typ": "at+jwt", "kid": "not-a-dot-key"], claims: claims()), "not in the issuer's key set"),
        ]
        for (name, token, reason) in cases {
            let response = try await get(token)
            #expect(response.status == 401, "\(name)")
            #expect(response.header("www-authenticate") == #"Bearer realm="tokengate", error="invalid_token""#, "\(name)")
            #expect(response.bodyText.contains(reason), "\(name): \(response.bodyText)")
        }
        // A token minted with the active key and correct claims passes, like DOT's own.
        #expect(try await get(try await dot.mintJWT(claims: claims())).status == 200)

        #expect(echo.requestCount == 4)
        try await dot.registerSecrets()
        await gateway.stop()
        await echo.stop()
    }
}
