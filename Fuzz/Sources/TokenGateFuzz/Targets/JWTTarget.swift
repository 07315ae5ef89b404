#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JWTKit
import NIOCore
@testable import TokenGate

/// Compact JWTs as a JWT profile checks them: `CompactJWT.parse`, the key lookup and the
/// signature check `JWTProfile.validate` does (the fixture's key set: ES256, RS256, EdDSA
/// and HS256 with the profile's secret), the RFC 9068 claim checks
/// (`JWTAccessTokenRules`, for every parsed token, signature or not: they are pure) and
/// the route rules (`InboundPolicy.evaluate`). The input is the token.
///
/// Invariants: the signing input is the token up to its second dot; a verifier found
/// for a token's `alg` is that algorithm; accepted claims have an `exp` in the future
/// (with skew), the profile's issuer and audience; identity headers the rules produce are
/// valid header values and a refusal renders; a token re-signed with the HS256 key
/// verifies, parses back to the same header and claims, and a changed signature does not
/// verify.
enum JWTTarget {
    static func run(_ bytes: [UInt8]) {
        let token = String(decoding: bytes, as: UTF8.self)
        _ = BearerCredential.isB64Token(token)
        guard case .success(let jwt) = CompactJWT.parse(token) else { return }
        let fixture = Fixture.shared
        let keys = Fixture.keys.access
        let config = fixture.jwtConfig
        let utf8 = Array(token.utf8)
        invariant(utf8.starts(with: jwt.signingInput) && jwt.signingInput.filter { $0 == UInt8(ascii: ".") }.count == 1,
                  "the signing input is not the token up to its second dot")
        _ = JWTProfile.normalizedType(jwt.type ?? "")

        if config.algorithms.contains(jwt.algorithm), case .found(let verifier) = keys.verifier(kid: jwt.keyID, algorithm: jwt.algorithm) {
            invariant(verifier.name == jwt.algorithm, "the verifier found for \(jwt.algorithm) is \(verifier.name)")
            _ = try? verifier.verify(jwt.signature, signs: jwt.signingInput)
        }

        switch JWTAccessTokenRules(config).claims(of: jwt, now: Fixture.now) {
        case .success(let claims):
            invariant(jwt.issuer == config.issuer, "accepted claims are from another issuer")
            invariant(claims.expiresAt.map { $0 + config.clockSkew > Fixture.now } == true, "accepted claims have no expiry or an expired one")
            invariant(config.allowAnyAudience || claims.audiences.contains(where: config.audiences.contains), "accepted claims are for another audience")
            evaluate(claims, fixture.ordersRules, route: "orders")
            evaluate(claims, fixture.forwardingRules, route: "forwarding")
        case .failure(let refusal):
            invariant(!refusal.description.isEmpty, "a refusal without a reason")
        }

        // Re-sign the token's header and payload with the HS256 key: the round trip of a
        // token the gateway would accept, whatever the input's own signature.
        guard case .found(let hmac) = keys.verifier(kid: nil, algorithm: "HS256"), let signature = try? hmac.sign(jwt.signingInput) else { return }
        invariant((try? hmac.verify(signature, signs: jwt.signingInput)) == true, "an HS256 signature does not verify")
        var forged = signature
        forged[pick(bytes, forged.count)] ^= 0x01
        invariant((try? hmac.verify(forged, signs: jwt.signingInput)) != true, "a changed HS256 signature verifies")
        let rebuilt = String(decoding: jwt.signingInput, as: UTF8.self) + "." + Base64URL.encode(signature)
        guard case .success(let again) = CompactJWT.parse(rebuilt) else {
            invariant(false, "a re-signed token does not parse")
            return
        }
        invariant(again.algorithm == jwt.algorithm && again.keyID == jwt.keyID && again.type == jwt.type && again.signature == signature,
                  "a re-signed token parses to another header or signature")
        invariant(again.claims.count == jwt.claims.count && zip(again.claims, jwt.claims).allSatisfy { $0.key == $1.key && $0.value == $1.value },
                  "a re-signed token parses to other claims")
    }

    /// A route's rules on accepted claims: identity headers are valid header values, and a
    /// refusal renders.
    static func evaluate(_ claims: IntrospectionClaims, _ rules: InboundValidationConfig, route: String) {
        switch InboundPolicy.evaluate(claims, rules, route: route, now: Fixture.now, leeway: (expiry: 60, notBefore: 60)) {
        case .success(let identity):
            var builder = HTTPHeadBuilder(capacity: 256, allocator: ByteBufferAllocator())
            for header in identity {
                invariant(rules.identityHeaders.contains { $0.header == header.name }, "an identity header the rules do not name")
                invariant(InboundPolicy.isHeaderSafe(header.value), "an identity header value holds a control character")
                builder.field(header.name, header.value)
            }
            invariant(builder.isValid, "identity headers do not make a valid head (\(builder.problem ?? "?"))")
        case .failure(let error):
            HeadersTarget.checkRenders(error)
        }
    }
}
