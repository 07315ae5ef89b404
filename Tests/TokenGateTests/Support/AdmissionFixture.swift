import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import TokenGate

/// Profiles and routes for driving `Admission` event by event, without sockets: a
/// configuration with a JWT-only route, a JWT-and-introspection route, an introspected
/// route, an egress route with a credential, and a login route; requests are planned by
/// the listener's real planner, as a connection plans them.
struct AdmissionFixture {
    static let issuer = "https://idp.example.com"
    static let audience = "https://api.example.com"
    static let hmacSecret = "a-shared-secret-long-enough-for-hs256-tests"
    static let environment = [
        "HMAC": hmacSecret, "IS": "introspection-secret", "CS": "credential-secret", "KEY": "0123456789abcdef0123456789abcdef-key",
    ]

    let snapshot: ConfigSnapshot
    let profiles: Profiles

    init() throws {
        let json = """
        { "listeners": { "main": { "address": "127.0.0.1:8080" } },
          "jwt": { "idp-jwt": { "issuer": "\(Self.issuer)", "jwks_uri": "https://idp.example.com/jwks", "audience": "\(Self.audience)",
                                "algorithms": ["HS256"], "hmac_secret": { "env": "HMAC" }, "clock_skew_seconds": 60 } },
          "introspection": { "idp": { "url": "https://idp.example.com/introspect", "client_id": "rs", "client_secret": { "env": "IS" } } },
          "credentials": { "billing": { "grant": "client_credentials", "token_url": "https://idp.example.com/token",
                                        "client_id": "svc", "client_secret": { "env": "CS" } } },
          "login": { "portal": { "issuer": "\(Self.issuer)", "client_id": "legacy-portal",
                                 "authorization_endpoint": "https://idp.example.com/authorize", "token_endpoint": "https://idp.example.com/token",
                                 "jwks_uri": "https://idp.example.com/jwks",
                                 "cookie_keys": [ { "id": "k1", "secret": { "env": "KEY" } } ],
                                 "session": { "idle_timeout_seconds": 600, "absolute_timeout_seconds": 3600 } } },
          "routes": [
            { "name": "jwt-only", "listener": "main", "match": { "path_prefix": "/jwt/" }, "upstream": "http://127.0.0.1:3000",
              "validate": { "jwt": "idp-jwt" } },
            { "name": "both", "listener": "main", "match": { "path_prefix": "/both/" }, "upstream": "http://127.0.0.1:3000",
              "validate": { "jwt": "idp-jwt", "introspection": "idp" } },
            { "name": "introspected", "listener": "main", "match": { "path_prefix": "/api/" }, "upstream": "http://127.0.0.1:3000",
              "validate": { "introspection": "idp" } },
            { "name": "egress", "listener": "main", "match": { "path_prefix": "/billing/" }, "upstream": "http://127.0.0.1:3000",
              "credential": "billing" },
            { "name": "portal", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:3000",
              "login": "portal", "public_paths": ["/static/"] } ] }
        """
        let resolver = SecretResolver(environment: Self.environment)
        let loaded = try ConfigLoader(resolver: resolver).load(bytes: Array(json.utf8))
        let metrics = GatewayMetrics()
        profiles = Profiles().reconciled(with: loaded.config, resolver: resolver, metrics: metrics).all
        snapshot = try ConfigSnapshot(loaded, profiles: profiles, metrics: metrics)
    }

    var jwt: JWTProfile { profiles.jwt["idp-jwt"]! }
    var introspection: IntrospectionProfile { profiles.introspection["idp"]! }
    var credential: CredentialProfile { profiles.credentials["billing"]! }
    var login: LoginProfile { profiles.login["portal"]! }

    /// The admission a connection would start for this request.
    func admission(_ method: HTTPMethod = .GET, _ uri: String, headers: [(String, String)] = []) throws -> Admission {
        let planner = try #require(snapshot.planner(forListener: "main"))
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders([("Host", "app.example.com")] + headers))
        var ids = RequestIDGenerator()
        let plan = try planner.plan(head, peer: nil, peerText: "127.0.0.1", requestIDs: &ids, allocator: ByteBufferAllocator()).get()
        return Admission(plan: plan)
    }

    /// Gives the JWT profile its key set (the HMAC secret), as its refresher would.
    func loadKeys() async throws {
        let keys = try await JWTKeySet.build(jwks: Array(#"{"keys":[]}"#.utf8), allowed: ["HS256"], hmacSecret: Array(Self.hmacSecret.utf8)).get()
        jwt.install(keys, next: .seconds(300))
    }

    /// An HS256 access token (`typ` `at+jwt`) with these claims.
    static func accessToken(issuer: String = AdmissionFixture.issuer, subject: String = "alice", expiresAt: Int, scope: String = "orders") -> String {
        let header = base64URL(Data(#"{"alg":"HS256","typ":"at+jwt"}"#.utf8))
        let payload = base64URL(Data(#"{"iss":"\#(issuer)","aud":"\#(audience)","sub":"\#(subject)","exp":\#(expiresAt),"scope":"\#(scope)","client_id":"caller"}"#.utf8))
        let input = header + "." + payload
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(hmacSecret.utf8)))
        return input + "." + base64URL(Data(mac))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A `Cookie` header carrying the cookies `fields` (`Set-Cookie` values) set.
    static func cookieHeader(_ fields: [(name: String, value: String)]?) throws -> (String, String) {
        let jar = try LoginRevocationTests.jar(fields)
        return ("Cookie", jar.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))
    }

    /// A session of `subject` with an access token until `tokenExpiresAt` and a refresh token.
    static func session(now: Int, tokenExpiresAt: Int?, refreshToken: String? = "refresh-1") -> LoginSession {
        LoginSession(
            id: LoginCookies.random(), subject: "alice", providerSessionID: nil, loginAt: now * 1000, seenAt: now, expiresAt: now + 3600,
            claims: [:], accessToken: "access-1", accessTokenExpiresAt: tokenExpiresAt, refreshToken: refreshToken, idToken: nil
        )
    }
}

extension Admission.Step {
    /// The gateway's own answer, if the step is one.
    var answer: GatewayAnswer? {
        if case .refuse(let answer) = self { return answer }
        return nil
    }

    var grant: Admission.Grant? {
        if case .admit(let grant) = self { return grant }
        return nil
    }

    var lookup: Admission.Lookup? {
        if case .wait(let lookup) = self { return lookup }
        return nil
    }

    /// The lookup's kind, to compare.
    var waitsFor: String? {
        guard let lookup else { return nil }
        switch lookup {
        case .jwt: return "jwt"
        case .introspection: return "introspection"
        case .credential: return "credential"
        case .sessionRefresh: return "sessionRefresh"
        case .providerMetadata: return "providerMetadata"
        case .codeExchange: return "codeExchange"
        case .requestBody(let limit): return "requestBody(\(limit))"
        case .backchannelLogout: return "backchannelLogout"
        case .sharedSession: return "sharedSession"
        }
    }
}

extension GatewayAnswer {
    /// The first value of header `name`.
    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }
}

extension Admission.Grant {
    func field(_ name: String) -> String? {
        identity?.fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }
}
