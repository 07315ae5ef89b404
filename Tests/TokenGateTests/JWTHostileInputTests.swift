import Crypto
import Foundation
@testable import TokenGate
import Testing
import TokenGateSandbox

@Suite("JWTs and key sets as a hostile client or a broken issuer sends them")
struct JWTHostileInputTests {
    private static func base64URL(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("malformed tokens are refused with a reason, never a crash", arguments: [
        ("", "three dot-separated parts"),
        ("a.b", "three dot-separated parts"),
        ("a.b.c.d", "three dot-separated parts"),
        ("!!!.e30.", "not base64url"),
        (base64URL("[]") + "." + base64URL("{}") + ".", "header is not a JSON object"),
        (base64URL(#"{"alg":"ES256"}"#) + "." + base64URL("[1]") + ".", "payload is not a JSON object"),
        (base64URL(#"{"typ":"at+jwt"}"#) + "." + base64URL("{}") + ".", "no algorithm"),
        (base64URL(#"{"alg":256}"#) + "." + base64URL("{}") + ".", "no algorithm"),
        (base64URL(#"{"alg":"ES256","kid":7}"#) + "." + base64URL("{}") + ".", "kid or typ that is not a string"),
        (base64URL(#"{"alg":"ES256","alg":"none"}"#) + "." + base64URL("{}") + ".", "header is not a JSON object"),
        (base64URL(#"{"alg":"ES256"}"#) + "." + base64URL(String(repeating: "[", count: 100_000)) + ".", "payload is not a JSON object"),
    ])
    func malformedTokens(token: String, reason: String) {
        switch CompactJWT.parse(token) {
        case .success: Issue.record("accepted \(token.prefix(40))")
        case .failure(let malformed): #expect(malformed.description.contains(reason), "\(malformed.description)")
        }
    }

    @Test("a key set keeps the keys it can use and says why it skipped the others")
    func keySetSkips() async throws {
        let p256 = try #require(ES256Fixture.jwk)
        let body = """
        {"keys":[1, null, {"kty":"oct","k":"c2VjcmV0","kid":"sym"}, {"kty":"RSA","n":"AQAB","e":"AQAB","kid":"tiny"},
                 {"kty":"EC","crv":"P-192","x":"AA","y":"AA","kid":"odd-curve"}, {"kty":"EC","crv":"P-256","alg":"RS256","x":"AA","y":"AA","kid":"mislabelled"},
                 {"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB","kid":"encryption"}, \(p256), \(p256)]}
        """
        let set = try await JWTKeySet.build(jwks: Array(body.utf8), allowed: JWTProfileConfig.asymmetricAlgorithms, hmacSecret: nil).get()
        #expect(set.keys == [JWTKeySet.KeyInfo(id: "good", type: "EC", algorithms: ["ES256"])])
        let reasons = set.skipped.joined(separator: "\n")
        for expected in ["keys[0]: not an object", "key sym: unsupported key type", "key tiny: not a valid RSA public key", "key odd-curve: unsupported curve",
                         "key mislabelled: alg RS256 does not fit a EC key", "key encryption: for \"enc\"", "key good: the kid appears twice"] {
            #expect(reasons.contains(expected), "\(expected) in \(reasons)")
        }
        if case .found = set.verifier(kid: "good", algorithm: "ES256") {} else { Issue.record("the good key is not usable") }
        if case .wrongAlgorithm = set.verifier(kid: "good", algorithm: "RS256") {} else { Issue.record("an EC key verified RS256") }
        if case .unknownKey = set.verifier(kid: "sym", algorithm: "HS256") {} else { Issue.record("a symmetric key from the JWKS was used") }
    }

    @Test("a key set of more than 64 keys is cut at 64; bodies that are not key sets are errors")
    func keySetBounds() async throws {
        let many = "{\"keys\":[" + (0..<1000).map { #"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"k\#($0)"}"# }.joined(separator: ",") + "]}"
        let set = try await JWTKeySet.build(jwks: Array(many.utf8), allowed: ["ES256"], hmacSecret: nil).get()
        #expect(set.skipped.contains("keys past the first 64"))
        #expect(set.skipped.count == 65)
        for body in ["", "null", "{}", #"{"keys":{}}"#, "[]", String(repeating: "{\"keys\":", count: 200)] {
            let result = await JWTKeySet.build(jwks: Array(body.utf8), allowed: ["ES256"], hmacSecret: nil)
            if case .success = result { Issue.record("accepted \(body.prefix(30)) as a key set") }
        }
    }

    @Test("a broken key set answer keeps the gateway up, answering 503 and saying why in /status")
    func brokenKeySetAnswers() async throws {
        let idp = try await JWTSetup.startSandbox()
        idp.setFault(.body(#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"bad"}]}"#), on: .jwks)
        let setup = try await JWTSetup.start(idp: idp)
        let token = try idp.mintJWT(claims: setup.claims())
        let refused = try await setup.request("/api/x", token: token)
        #expect(refused.status == 503)
        let status = try #require(try JSONSerialization.jsonObject(with: Data(try await setup.admin("/status").body)) as? [String: Any])
        let profile = try #require((status["jwt"] as? [[String: Any]])?.first)
        #expect(profile["last_fetch_succeeded"] as? Bool == false)
        #expect((profile["last_fetch_detail"] as? String)?.contains("the key set has no usable key (key bad: not a valid EC public key)") == true)
        #expect(setup.echo.requestCount == 0)
        await setup.stop()
    }

    @Test("absurd time claims are refused, not trusted or trapped on")
    func absurdTimes() async throws {
        let setup = try await JWTSetup.start()
        for exp in [1e300, -1e300, 1e19] {
            let token = try setup.idp.mintJWT(claims: setup.claims(["exp": exp]))
            #expect(try await setup.request("/api/x", token: token).status == 401)
        }
        await setup.stop()
    }

    @Test("an introspection cache entry keeps 16 bytes for its token's iss however long the iss, and still tells the JWT profile's issuer apart by them")
    func cachedIssuerIsFixedSize() {
        let issuer = "https://idp.example.com"
        func token(payload: String) -> String { Self.base64URL(#"{"alg":"RS256","typ":"at+jwt"}"#) + "." + Self.base64URL(payload) + ".c2ln" }
        func entry(_ token: String) -> IntrospectionProfile.Entry { IntrospectionProfile.Entry(claims: .inactive, token: token) }
        // No heap storage: the size of the value is all an entry holds for the iss.
        #expect(MemoryLayout<ShortDigest>.size == 16)
        #expect(_isPOD(ShortDigest.self))

        let profile = JWTProfile(JWTProfileConfig(
            name: "idp", issuer: issuer, jwksURL: nil, algorithms: ["RS256"], audiences: ["https://api.example.com"], allowAnyAudience: false,
            clockSkew: 0, types: JWTProfileConfig.defaultTypes, hmacSecret: nil, caFile: nil, timeout: .seconds(5), allowInsecureHTTP: false,
            maxEntries: 10, refreshInterval: .seconds(300), minRefresh: .seconds(60), maxRefresh: .seconds(86_400), unknownKidInterval: .seconds(10),
            startupWait: .seconds(15)
        ), metrics: GatewayMetrics().jwt("idp"))
        let own = entry(token(payload: #"{"iss":"\#(issuer)"}"#))
        #expect(own.tokenIssuer == ShortDigest(issuer))
        #expect(profile.isFromIssuer(digest: own.tokenIssuer))

        // A 20 KB iss a client chose: 16 bytes kept, matched exactly, not the issuer's.
        let long = issuer + "/" + String(repeating: "a", count: 20_000)
        let hostile = entry(token(payload: #"{"iss":"\#(long)"}"#))
        #expect(hostile.tokenIssuer == ShortDigest(long))
        #expect(hostile.tokenIssuer != ShortDigest(String(long.dropLast()) + "b"))
        #expect(!profile.isFromIssuer(digest: hostile.tokenIssuer))

        // No JWS, or no string iss: nothing kept, never the profile's.
        for other in [entry("opaque-token"), entry(token(payload: #"{"sub":"alice"}"#)), entry(token(payload: #"{"iss":7}"#))] {
            #expect(other.tokenIssuer == nil)
            #expect(!profile.isFromIssuer(digest: other.tokenIssuer))
        }
    }
}

/// A fresh P-256 public key as a JWK with kid "good".
private enum ES256Fixture {
    static let jwk: String? = {
        let raw = Data(P256.Signing.PrivateKey().publicKey.rawRepresentation)
        func encode(_ bytes: Data) -> String {
            bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        return #"{"kty":"EC","crv":"P-256","x":"\#(encode(raw.prefix(32)))","y":"\#(encode(raw.suffix(32)))","kid":"good"}"#
    }()
}
