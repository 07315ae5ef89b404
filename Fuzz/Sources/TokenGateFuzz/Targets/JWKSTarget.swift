#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JWTKit
@testable import TokenGate

/// JWKS documents: `JWTKeySet.build` (the JSON, each key's checks, jwt-kit's key
/// parsing with the algorithm pinned). `build` is async (jwt-kit's key collections are
/// actors); it runs to completion on the concurrency pool while the fuzzer waits. The
/// allow-list is every algorithm the gateway knows; inputs of odd length also get an
/// HMAC secret. The input is the document.
///
/// Invariants: at most `maxKeys` keys; each key's algorithms are allowed, fit its type,
/// are its own `alg` when it declares one, and each finds a verifier of that name; no
/// kid twice; a key whose kid appears once in the document and whose `use` is not `sig`,
/// whose `key_ops` lacks `verify`, or whose type is not RSA, EC or OKP is not taken.
enum JWKSTarget {
    static let allowed = JWTProfileConfig.asymmetricAlgorithms + ["HS256"]

    static func run(_ bytes: [UInt8]) {
        let secret: [UInt8]? = bytes.count % 2 == 1 ? Array(Fixture.hmacSecret.utf8) : nil
        let allowed = Self.allowed
        let result = runBlocking { await JWTKeySet.build(jwks: bytes, allowed: allowed, hmacSecret: secret) }
        guard case .success(let set) = result else { return }
        invariant(set.keys.count <= JWTKeySet.maxKeys, "more than \(JWTKeySet.maxKeys) keys were taken")
        invariant(Set(set.keys.map(\.id)).count == set.keys.count, "a kid was taken twice")
        invariant(set.hmac.isEmpty || secret != nil, "HMAC verifiers without a secret")
        for key in set.keys {
            invariant(!key.algorithms.isEmpty && key.algorithms.allSatisfy(allowed.contains), "a key was taken for no or a refused algorithm")
            let fits: [String]
            switch key.type {
            case "RSA": fits = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
            case "EC": fits = ["ES256", "ES384", "ES512"]
            case "OKP": fits = ["EdDSA"]
            default: fits = []
            }
            invariant(key.algorithms.allSatisfy(fits.contains), "a \(key.type) key was taken for an algorithm that does not fit it")
            for algorithm in key.algorithms {
                guard case .found(let verifier) = set.verifier(kid: key.id, algorithm: algorithm) else {
                    invariant(false, "a taken key has no verifier for \(algorithm)")
                    continue
                }
                invariant(verifier.name == algorithm, "the verifier for \(algorithm) is \(verifier.name)")
                _ = try? verifier.verify(Array(bytes.prefix(64)), signs: bytes)
            }
        }

        // Keys the document itself rules out.
        guard let document = try? JSONParser.parse(bytes), case .object(let members) = document,
              case .array(let entries)? = members.first(where: { $0.key == "keys" })?.value else { return }
        let considered = entries.prefix(JWTKeySet.maxKeys)
        func text(_ fields: [(key: String, value: JSONValue)], _ name: String) -> String? {
            if case .string(let value)? = fields.first(where: { $0.key == name })?.value { return value }
            return nil
        }
        var kidCounts: [String: Int] = [:]
        for entry in considered { if case .object(let fields) = entry { kidCounts[text(fields, "kid") ?? "", default: 0] += 1 } }
        for entry in considered {
            guard case .object(let fields) = entry else { continue }
            let kid = text(fields, "kid") ?? ""
            guard kidCounts[kid] == 1 else { continue }
            let taken = set.keys.first { $0.id == kid }
            if let use = text(fields, "use"), use != "sig" { invariant(taken == nil, "a key for \"\(use)\" was taken") }
            if case .array(let operations)? = fields.first(where: { $0.key == "key_ops" })?.value, !operations.contains(.string("verify")) {
                invariant(taken == nil, "a key whose key_ops lacks verify was taken")
            }
            if !["RSA", "EC", "OKP"].contains(text(fields, "kty") ?? "") { invariant(taken == nil, "a key of an unsupported type was taken") }
            if let declared = text(fields, "alg"), let taken { invariant(taken.algorithms == [declared], "a key declaring alg \(declared) was taken for \(taken.algorithms)") }
        }
    }
}
