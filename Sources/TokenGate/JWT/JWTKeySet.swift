import JWTKit

/// An issuer's published keys as TokenGate uses them: a table of key id → algorithm →
/// jwt-kit verifier, where every algorithm was pinned here, from the key's own `alg` or
/// its type and curve, and the profile's allow-list.
///
/// The table exists because of two traps in jwt-kit's `JWTKeyCollection` (5.8.0): it
/// hands a token whose `kid` is unknown to a default key, and for a JWK without `alg` it
/// builds and keeps a verifier for whatever algorithm the first token's header names,
/// signature valid or not. Here, a token's `kid` is looked up in this table first (unknown
/// means refused), and each verifier comes from a one-key collection built with its
/// algorithm fixed, so no token header ever chooses or changes one.
struct JWTKeySet: Sendable {
    /// One published key, for `/status`.
    struct KeyInfo: Sendable, Equatable {
        var id: String
        var type: String
        var algorithms: [String]
    }

    /// Verifiers by key id, then algorithm name. A key without `kid` is stored under "".
    private(set) var verifiers: [String: [String: any JWTAlgorithm]] = [:]
    /// HS256/384/512 verifiers from the profile's `hmac_secret`, used whatever the `kid`.
    private(set) var hmac: [String: any JWTAlgorithm] = [:]
    private(set) var keys: [KeyInfo] = []
    /// Keys left out, with why (an algorithm not allowed, an encryption key, …).
    private(set) var skipped: [String] = []

    /// More keys than this in one set is not a real issuer; the rest are skipped.
    static let maxKeys = 64

    static let empty = JWTKeySet()

    var keyIDs: Set<String> { Set(verifiers.keys) }

    /// The verifier for a token's `kid` (nil: none in the header) and `alg`.
    enum Match {
        case found(any JWTAlgorithm)
        /// The key exists but is not usable with the token's algorithm.
        case wrongAlgorithm
        case unknownKey
        /// No `kid`, and more than one key could have signed it.
        case ambiguous
    }

    func verifier(kid: String?, algorithm: String) -> Match {
        if let verifier = hmac[algorithm] { return .found(verifier) }
        guard let kid else {
            let candidates = verifiers.values.compactMap { $0[algorithm] }
            if candidates.count == 1, let only = candidates.first { return .found(only) }
            return candidates.isEmpty ? .unknownKey : .ambiguous
        }
        guard let byAlgorithm = verifiers[kid] else { return .unknownKey }
        guard let verifier = byAlgorithm[algorithm] else { return .wrongAlgorithm }
        return .found(verifier)
    }

    /// Builds the table from a JWKS document. Keys that cannot be used are skipped with a
    /// reason; the document itself must be a JSON object with a `keys` array.
    static func build(jwks body: [UInt8], allowed: [String], hmacSecret: [UInt8]?) async -> Result<JWTKeySet, JWKSError> {
        guard let document = try? JSONParser.parse(body), case .object(let members) = document,
              case .array(let entries)? = members.first(where: { $0.key == "keys" })?.value
        else {
            return .failure(JWKSError("the key set is not a JWKS document (a JSON object with a \"keys\" array)"))
        }
        var set = JWTKeySet()
        for (position, entry) in entries.enumerated() {
            guard position < maxKeys else {
                set.skipped.append("keys past the first \(maxKeys)")
                break
            }
            guard case .object(let fields) = entry else {
                set.skipped.append("keys[\(position)]: not an object")
                continue
            }
            await set.add(fields, position: position, allowed: allowed)
        }
        if let hmacSecret {
            for (name, digest) in [("HS256", DigestAlgorithm.sha256), ("HS384", .sha384), ("HS512", .sha512)] where allowed.contains(name) {
                let collection = JWTKeyCollection()
                await collection.add(hmac: HMACKey(from: hmacSecret), digestAlgorithm: digest, kid: "tokengate-hmac")
                if let verifier = try? await collection.getKey(for: "tokengate-hmac"), verifier.name == name {
                    set.hmac[name] = verifier
                }
            }
        }
        return .success(set)
    }

    private mutating func add(_ fields: [(key: String, value: JSONValue)], position: Int, allowed: [String]) async {
        func text(_ name: String) -> String? {
            if case .string(let value)? = fields.first(where: { $0.key == name })?.value { return value }
            return nil
        }
        let kid = text("kid") ?? ""
        let label = kid.isEmpty ? "keys[\(position)]" : "key \(kid)"
        let type = text("kty") ?? ""
        if let use = text("use"), use != "sig" {
            skipped.append("\(label): for \"\(use)\", not signatures")
            return
        }
        if case .array(let operations)? = fields.first(where: { $0.key == "key_ops" })?.value,
           !operations.contains(.string("verify")) {
            skipped.append("\(label): key_ops does not include verify")
            return
        }
        if verifiers[kid] != nil {
            skipped.append("\(label): the kid appears twice; the first is used")
            return
        }
        let candidates: [String]
        switch type {
        case "RSA": candidates = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        case "EC":
            switch text("crv") {
            case "P-256": candidates = ["ES256"]
            case "P-384": candidates = ["ES384"]
            case "P-521": candidates = ["ES512"]
            default:
                skipped.append("\(label): unsupported curve")
                return
            }
        case "OKP":
            guard text("crv") == "Ed25519" else {
                skipped.append("\(label): unsupported curve")
                return
            }
            candidates = ["EdDSA"]
        default:
            skipped.append("\(label): unsupported key type \"\(type)\"")
            return
        }
        // The key's own `alg`, when it has one, is the only algorithm it may be used with.
        var usable = candidates.filter(allowed.contains)
        if let declared = text("alg") {
            guard candidates.contains(declared) else {
                skipped.append("\(label): alg \(declared) does not fit a \(type) key")
                return
            }
            usable = usable.filter { $0 == declared }
        }
        guard !usable.isEmpty else {
            skipped.append("\(label): no allowed algorithm fits it")
            return
        }
        var built: [String: any JWTAlgorithm] = [:]
        for name in usable {
            // Public parts only: a set that also publishes private ones still verifies.
            let algorithm = JWK.Algorithm(rawValue: name)
            let identifier = JWKIdentifier(string: "k")
            let jwk: JWK
            switch type {
            case "RSA": jwk = .rsa(algorithm, identifier: identifier, modulus: text("n"), exponent: text("e"))
            case "EC": jwk = .ecdsa(algorithm, identifier: identifier, x: text("x"), y: text("y"), curve: text("crv").flatMap(ECDSACurve.init(rawValue:)))
            default: jwk = .octetKeyPair(algorithm, identifier: identifier, x: text("x"), y: nil, curve: .ed25519)
            }
            let collection = JWTKeyCollection()
            guard (try? await collection.add(jwk: jwk)) != nil,
                  let verifier = try? await collection.getKey(for: identifier), verifier.name == name
            else {
                skipped.append("\(label): not a valid \(type) public key")
                return
            }
            built[name] = verifier
        }
        verifiers[kid] = built
        keys.append(KeyInfo(id: kid, type: type, algorithms: usable))
    }
}
