import Foundation
import NIOHTTP1
@testable import TokenGate
import Testing
import TokenGateSandbox

/// The rules behind four inbound-validation holes, as values: whole-segment path
/// prefixes, byte-exact token comparison, and list claims that cannot be joined.
@Suite("Inbound hardening: the rules as values")
struct InboundHardeningValueTests {
    @Test("a path prefix matches whole segments unless it ends in /: /health is not /healthz-admin")
    func pathPrefixMatchesWholeSegments() {
        #expect(RequestPath.isUnder("/health", prefix: "/health"))
        #expect(RequestPath.isUnder("/health/live", prefix: "/health"))
        #expect(!RequestPath.isUnder("/healthz-admin", prefix: "/health"))
        #expect(!RequestPath.isUnder("/health-internal/users", prefix: "/health"))
        #expect(!RequestPath.isUnder("/heal", prefix: "/health"))
        #expect(RequestPath.isUnder("/static/app.js", prefix: "/static/"))
        #expect(!RequestPath.isUnder("/static", prefix: "/static/"))
        #expect(RequestPath.isUnder("/anything", prefix: "/"))
    }

    @Test("a login profile's endpoints are under a route by the same rule: /appx/.tokengate/ is not under /app")
    func loginEndpointsUnderARouteBySegments() {
        func document(route: String, endpoints: String) -> String {
            """
            { "listeners": { "ingress": { "address": "0.0.0.0:8080" } },
              "login": { "portal": { "issuer": "https://idp.example.com", "client_id": "legacy-portal", "client_secret": { "env": "PORTAL" },
                                     "cookie_keys": [ { "id": "k1", "secret": { "env": "KEY" } } ], "path_prefix": "\(endpoints)" } },
              "routes": [ { "name": "portal", "listener": "ingress", "match": { "path_prefix": "\(route)" }, "upstream": "http://127.0.0.1:3000",
                            "login": "portal" } ] }
            """
        }
        let environment = ["PORTAL": "portal-secret", "KEY": "0123456789abcdef0123456789abcdef-key"]
        #expect(configErrors(document(route: "/app", endpoints: "/appx/.tokengate/"), environment: environment).contains { $0.hasPrefix("login.portal.path_prefix:") })
        #expect(configErrors(document(route: "/app", endpoints: "/app/.tokengate/"), environment: environment).isEmpty)
    }

    @Test("the connection's token memo and Redacted tell a token from its canonically equivalent spelling (K, U+212A KELVIN SIGN)")
    func tokensCompareByBytes() {
        let token = "abcK123"
        let kelvin = "abc\u{212A}123"
        #expect(token == kelvin, "String == is canonical equivalence: the premise of the hole")
        var memo = TokenKeyMemo()
        let key = memo.key(for: token)
        let kelvinKey = memo.key(for: kelvin)
        let again = memo.key(for: token)
        #expect(key == TokenCacheKey(token: token))
        #expect(kelvinKey != key, "the memo must not hand the valid token's key to another spelling")
        #expect(kelvinKey == TokenCacheKey(token: kelvin))
        #expect(again == key)
        #expect(Redacted(token) != Redacted(kelvin))
        #expect(Set([Redacted(token), Redacted(kelvin)]).count == 2)
        #expect(Redacted(token) == Redacted("abcK123"))
    }

    @Test("a list is joined only when every element can be told apart in the joined value")
    func listJoining() {
        let comma = UInt8(ascii: ",")
        #expect(IntrospectionClaims.joinedList(["staff", "admin"], separator: comma) == "staff,admin")
        #expect(IntrospectionClaims.joinedList(["Zoë", "on call"], separator: comma) == "Zoë,on call")
        #expect(IntrospectionClaims.joinedList([], separator: comma) == "")
        for blurred in [["staff,admin"], ["staff", " admin"], ["admin "], ["adm\nin"], ["adm\u{7F}in"], ["ad\tmin"], ["staff", ""]] {
            #expect(IntrospectionClaims.joinedList(blurred, separator: comma) == nil, "\(blurred)")
        }
        #expect(IntrospectionClaims.joinedList(["orders admin"], separator: UInt8(ascii: " ")) == nil)
    }

    @Test("groups [\"staff,admin\"] is refused with 401 invalid_token naming the claim where a route maps it; [\"staff\", \"admin\"] passes")
    func blurredListClaimRefusesTheToken() throws {
        let now = Int(Date().timeIntervalSince1970)
        let blurred = try #require(IntrospectionClaims.parse(Array(#"{"active":true,"sub":"alice","groups":["staff,admin"],"roles":["a","b"]}"#.utf8)))
        #expect(blurred.value(of: "groups") == nil)
        #expect(blurred.isUnrepresentable("groups"))
        #expect(blurred.value(of: "roles") == "a,b")
        #expect(!blurred.isUnrepresentable("roles") && !blurred.isUnrepresentable("email"))
        let spaced = try #require(IntrospectionClaims.parse(Array(#"{"active":true,"sub":"alice","aud":["orders api","billing"]}"#.utf8)))
        #expect(spaced.isUnrepresentable("aud"))
        #expect(spaced.audiences == ["orders api", "billing"], "matching on aud is unchanged")

        let mapsGroups = InboundValidationConfig(
            introspection: "idp", requiredScopes: [], forwardAuthorization: false,
            identityHeaders: [("X-Auth-Subject", "sub"), ("X-Auth-Groups", "groups")], realm: "tokengate"
        )
        switch InboundPolicy.evaluate(blurred, mapsGroups, route: "app", now: now) {
        case .success(let identity):
            Issue.record("a blurred groups claim passed as \(identity.map { $0.value })")
        case .failure(let refusal):
            #expect(refusal.status == .unauthorized)
            #expect(refusal.code.rawValue == "invalid_token")
            #expect(refusal.detail.contains("groups") && refusal.detail.contains("X-Auth-Groups"))
        }
        // A route that does not map the claim has no header to blur: the token passes.
        let subjectOnly = InboundValidationConfig(
            introspection: "idp", requiredScopes: [], forwardAuthorization: false, identityHeaders: [("X-Auth-Subject", "sub")], realm: "tokengate"
        )
        let passed = try InboundPolicy.evaluate(blurred, subjectOnly, route: "app", now: now).get()
        #expect(passed.map { $0.value } == ["alice"])

        let clean = try #require(IntrospectionClaims.parse(Array(#"{"active":true,"sub":"alice","groups":["staff","admin"]}"#.utf8)))
        let identity = try InboundPolicy.evaluate(clean, mapsGroups, route: "app", now: now).get()
        #expect(identity.first { $0.name == "X-Auth-Groups" }?.value == "staff,admin")
    }
}

/// The same holes through the real gateway, with the sandbox as authorization server.
@Suite("Inbound hardening through the gateway")
struct InboundHardeningTests {
    @Test("public_paths match whole segments of the normalised path: /health is public, /healthz-admin and /health-internal/users are not")
    func publicPathsMatchWholeSegments() async throws {
        let idp = try await JWTSetup.startSandbox()
        let echo = try await EchoUpstream.start()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "login": { "portal": { "issuer": "\(idp.issuer)", "client_id": "legacy-portal", "client_secret": { "env": "PORTAL_SECRET" },
                                 "cookie_keys": [ { "id": "k1", "secret": { "env": "COOKIE_KEY" } } ] } },
          "routes": [ { "name": "portal", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)/",
                        "login": "portal", "public_paths": ["/health"] } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["PORTAL_SECRET": LoginSetup.portalSecret, "COOKIE_KEY": LoginSetup.cookieKey])
        func status(_ path: String) async throws -> Int {
            // A script's call: 401 login_required rather than a redirect to the provider.
            let response = try await RawHTTPConnection.roundTrip(
                port: gateway.port(), "GET \(path) HTTP/1.1\r\nHost: a\r\nX-Requested-With: XMLHttpRequest\r\nConnection: close\r\n\r\n"
            )
            return response?.status ?? 0
        }
        for path in ["/health", "/health/live", "/%68ealth", "/x/../health"] {
            #expect(try await status(path) == 200, "\(path) is public")
        }
        for path in ["/healthz-admin", "/health-internal/users", "/healthz", "/health/../healthz"] {
            #expect(try await status(path) == 401, "\(path) needs a session")
        }
        #expect(echo.requestCount == 4)
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test("a JWT from the jwt profile's issuer that the profile refuses is refused on its route, even once another route had it introspected")
    func refusedJWTIsNotAnsweredFromTheIntrospectionCache() async throws {
        let idp = try await JWTSetup.startSandbox()
        let echo = try await EchoUpstream.start()
        let upstream = "http://127.0.0.1:\(echo.port)/"
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "jwt": { "idp": { "issuer": "\(idp.issuer)", "audience": "\(JWTSetup.audience)" } },
          "introspection": { "rs": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs", "client_secret": { "env": "RS_SECRET" } } },
          "routes": [
            { "name": "introspected", "listener": "main", "match": { "path_prefix": "/intro/" }, "upstream": "\(upstream)",
              "validate": { "introspection": "rs" } },
            { "name": "both", "listener": "main", "match": { "path_prefix": "/both/" }, "upstream": "\(upstream)",
              "validate": { "jwt": "idp", "introspection": "rs" } } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["RS_SECRET": "demo-introspection-secret"])
        // A JWT the sandbox issued and introspects as active, for another audience than the
        // jwt profile's.
        let elsewhere = idp.issueToken(clientID: "demo-caller", scope: "legacy:use", username: "alice", audience: "https://elsewhere.test")
        #expect(elsewhere.split(separator: ".").count == 3, "a JWT")
        let client = try await gateway.connect()
        func send(_ path: String, _ token: String) async throws -> TestResponse {
            try await client.send("GET \(path) HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\n\r\n")
            return try #require(try await client.readResponse())
        }
        #expect(try await send("/intro/x", elsewhere).status == 200)
        #expect(idp.calls(.introspection) == 1)
        // Same connection (the token memo) and a cached answer: the JWT profile decides.
        let refused = try await send("/both/x", elsewhere)
        #expect(refused.status == 401)
        #expect(gatewayError(refused)?.error == "invalid_token")
        #expect(refused.bodyText.contains("audience"), "\(refused.bodyText)")
        #expect(try await send("/intro/x", elsewhere).status == 200, "the introspection-only route still takes it")
        await client.close()
        let fresh = try await RawHTTPConnection.roundTrip(
            port: gateway.port(), "GET /both/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(elsewhere)\r\nConnection: close\r\n\r\n"
        )
        #expect(fresh?.status == 401)
        // The profile's own tokens still pass on that route, without introspection.
        let good = idp.jwtAccessToken(clientID: "demo-caller", scope: "legacy:use", subject: "bob", audience: JWTSetup.audience)
        let passed = try await RawHTTPConnection.roundTrip(
            port: gateway.port(), "GET /both/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(good)\r\nConnection: close\r\n\r\n"
        )
        #expect(passed?.status == 200)
        #expect(idp.calls(.introspection) == 1)
        #expect(echo.requestCount == 3)
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test("on a keep-alive connection, a valid token then the same token with K as U+212A KELVIN SIGN: the second is refused")
    func kelvinSignSpellingIsRefusedOnKeepAlive() async throws {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs", "client_secret": { "env": "RS_SECRET" } } },
          "routes": [ { "name": "app", "listener": "main", "match": { "path_prefix": "/app/" }, "upstream": "http://127.0.0.1:\(echo.port)/",
                        "validate": { "introspection": "idp" } } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["RS_SECRET": "demo-introspection-secret"])
        // Sandbox tokens are 43 random base64url characters; about half hold a K.
        let issued = (0..<64).lazy.map { _ in idp.issueToken(clientID: "demo-caller", scope: "legacy:use", username: "alice") }
        let token = try #require(issued.first { $0.utf8.contains(UInt8(ascii: "K")) })
        var bytes = Array(token.utf8)
        let at = try #require(bytes.firstIndex(of: UInt8(ascii: "K")))
        bytes.replaceSubrange(at...at, with: Array("\u{212A}".utf8))
        let kelvin = String(decoding: bytes, as: UTF8.self)
        #expect(kelvin == token, "canonically equivalent: String == cannot tell them apart")

        let client = try await gateway.connect()
        try await client.send("GET /app/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\n\r\n")
        #expect(try await client.readResponse()?.status == 200)
        try await client.send("GET /app/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(kelvin)\r\n\r\n")
        let second = try #require(try await client.readResponse())
        #expect(second.status == 400)
        #expect(gatewayError(second)?.error == "invalid_request")
        #expect(second.bodyText.contains("token68"), "judged by its own bytes: \(second.bodyText)")
        await client.close()
        // Never introspected or cached under its own key either.
        #expect(idp.calls(.introspection) == 1)
        #expect(echo.requestCount == 1)
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }

    @Test("a list claim with the separator in an element is refused with 401 naming it, from a JWT and from introspection alike")
    func blurredListClaimsAreRefused() async throws {
        let setup = try await JWTSetup.start()
        // The /api/ route maps X-Groups from groups.
        let blurred = try setup.idp.mintJWT(claims: setup.claims(["groups": ["staff,admin"]]))
        let refused = try await setup.request("/api/x", token: blurred)
        #expect(refused.status == 401)
        #expect(gatewayError(refused)?.error == "invalid_token")
        #expect(refused.bodyText.contains("groups"), "\(refused.bodyText)")
        let clean = try await setup.request("/api/x", token: try setup.idp.mintJWT(claims: setup.claims(["groups": ["staff", "admin"]])))
        #expect(EchoReport(clean)?.header("x-groups") == "staff,admin")
        // scp elements are joined with spaces into the scope: one with a space is two scopes.
        let scp = try setup.idp.mintJWT(claims: setup.claims(["scope": nil, "scp": ["legacy:use admin"]]))
        let twoScopes = try await setup.request("/api/x", token: scp)
        #expect(twoScopes.status == 401)
        #expect(twoScopes.bodyText.contains("scp"), "\(twoScopes.bodyText)")
        let listed = try setup.idp.mintJWT(claims: setup.claims(["scope": nil, "scp": ["legacy:use", "admin"]]))
        #expect(EchoReport(try await setup.request("/api/x", token: listed))?.header("x-auth-scope") == "legacy:use admin")
        #expect(setup.echo.requestCount == 2)
        await setup.stop()

        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let gateway = try await TestGateway.start("""
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs", "client_secret": { "env": "RS_SECRET" } } },
          "routes": [ { "name": "app", "listener": "main", "match": { "path_prefix": "/app/" }, "upstream": "http://127.0.0.1:\(echo.port)/",
                        "validate": { "introspection": "idp", "identity_headers": { "X-Auth-Subject": "sub", "X-Auth-Groups": "groups" } } } ] }
        """, environment: ["RS_SECRET": "demo-introspection-secret"])
        func request(_ token: String) async throws -> TestResponse {
            try #require(try await RawHTTPConnection.roundTrip(
                port: gateway.port(), "GET /app/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
            ))
        }
        idp.setFault(.body(#"{"active":true,"sub":"alice","groups":["staff,admin"]}"#), on: .introspection)
        let introspected = try await request("blurred-groups-token")
        #expect(introspected.status == 401)
        #expect(gatewayError(introspected)?.error == "invalid_token")
        #expect(introspected.bodyText.contains("groups"), "\(introspected.bodyText)")
        idp.setFault(.body(#"{"active":true,"sub":"alice","groups":["staff","admin"]}"#), on: .introspection)
        let passed = try await request("clean-groups-token")
        #expect(EchoReport(passed)?.header("x-auth-groups") == "staff,admin")
        #expect(echo.requestCount == 1)
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }
}
