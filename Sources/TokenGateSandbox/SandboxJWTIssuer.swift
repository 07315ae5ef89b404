import Crypto
import CryptoExtras
import ExtrasBase64
import FoundationEssentials
import JWTKit
import NIOConcurrencyHelpers

/// The sandbox's signing keys and the JWTs it makes with them: RFC 9068 access tokens, and
/// the broken and hostile ones a real server will not issue (unknown `kid`, `alg: none`,
/// HS256 keyed with the public key, a missing `typ`), for tests and `tokengate demo`.
final class SandboxJWTIssuer: Sendable {
    private struct SigningKey: Sendable {
        var kid: String
        var algorithm: String
        var signer: any JWTAlgorithm
        /// The public JWK, as JSON.
        var jwk: String
    }

    private struct Keys: Sendable {
        var all: [SigningKey] = []
        var current: String = ""
        var cacheControl: String? = "public, max-age=300"
        /// Every JWT made, for the leak check.
        var minted: [String] = []
    }

    private let keys = NIOLockedValueBox(Keys())

    /// Makes a key, publishes it in the key set and, with `current`, signs with it from now.
    func addKey(_ kind: SandboxAuthorizationServer.KeyKind, publishAlgorithm: Bool, current: Bool) async throws -> String {
        let kid = "sandbox-" + SandboxState.randomToken().prefix(12)
        let collection = JWTKeyCollection()
        var fields: [String: Any] = ["kid": kid, "use": "sig"]
        let algorithm: String
        switch kind {
        case .es256:
            let key = ES256PrivateKey()
            await collection.add(ecdsa: key, kid: JWKIdentifier(string: kid))
            guard let parameters = key.publicKey.parameters else { throw SandboxKeyError() }
            fields.merge(["kty": "EC", "crv": "P-256", "x": parameters.x, "y": parameters.y]) { $1 }
            algorithm = "ES256"
        case .rs256:
            let key = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
            await collection.add(rsa: key, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
            let (modulus, exponent) = try key.publicKey.getKeyPrimitives()
            fields.merge(["kty": "RSA", "n": Self.base64URL(Array(modulus)), "e": Self.base64URL(Array(exponent))]) { $1 }
            algorithm = "RS256"
        }
        if publishAlgorithm { fields["alg"] = algorithm }
        let signer = try await collection.getKey(for: JWKIdentifier(string: kid))
        let entry = SigningKey(kid: kid, algorithm: algorithm, signer: signer, jwk: SandboxResponse.encode(fields))
        keys.withLockedValue { keys in
            keys.all.append(entry)
            if current || keys.current.isEmpty { keys.current = kid }
        }
        return kid
    }

    /// Takes a key out of the key set (tokens it signed stop verifying once fetched).
    func retire(_ kid: String) {
        keys.withLockedValue { keys in keys.all.removeAll { $0.kid == kid } }
    }

    var currentKeyID: String { keys.withLockedValue { $0.current } }

    func setCacheControl(_ value: String?) { keys.withLockedValue { $0.cacheControl = value } }

    /// The key set document and its `Cache-Control`.
    var jwks: (body: String, cacheControl: String?) {
        keys.withLockedValue { keys in ("{\"keys\":[" + keys.all.map(\.jwk).joined(separator: ",") + "]}", keys.cacheControl) }
    }

    /// Signs `claims` under `header` (its `alg` and `kid` are set from the key unless
    /// `header` gives them): with the current key, `kid`'s, or as `signing` says.
    func sign(header: [String: Any], claims: [String: Any], signing: SandboxAuthorizationServer.Signing) throws -> String {
        var header = header
        let signer: (any JWTAlgorithm)?
        switch signing {
        case .currentKey, .key:
            let wanted: String? = if case .key(let kid) = signing { kid } else { nil }
            let key = keys.withLockedValue { keys in keys.all.first { $0.kid == (wanted ?? keys.current) } }
            guard let key else { throw SandboxKeyError() }
            if header["alg"] == nil { header["alg"] = key.algorithm }
            if header["kid"] == nil { header["kid"] = key.kid }
            signer = key.signer
        case .unsigned:
            header["alg"] = header["alg"] ?? "none"
            signer = nil
        case .hmacWithPublicKey(let kid):
            // The classic confusion: HS256 keyed with bytes anyone can read from the JWKS.
            let jwk = keys.withLockedValue { keys in keys.all.first { $0.kid == (kid ?? keys.current) }?.jwk } ?? ""
            header["alg"] = "HS256"
            if header["kid"] == nil { header["kid"] = kid ?? currentKeyID }
            signer = HMACSigner(key: Array(jwk.utf8))
        }
        let input = Self.base64URL(Array(SandboxResponse.encode(header).utf8)) + "." + Self.base64URL(Array(SandboxResponse.encode(claims).utf8))
        let token = input + "." + (try signer.map { Self.base64URL(try $0.sign(Array(input.utf8))) } ?? "")
        keys.withLockedValue { $0.minted.append(token) }
        return token
    }

    /// Every JWT this issuer made.
    var minted: [String] { keys.withLockedValue { $0.minted } }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }
}

/// HMAC-SHA256 as a jwt-kit algorithm, for the sandbox's alg-confusion token.
private struct HMACSigner: JWTAlgorithm {
    let key: [UInt8]
    var name: String { "HS256" }

    func sign(_ plaintext: some DataProtocol) throws -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(plaintext), using: SymmetricKey(data: key)))
    }

    func verify(_ signature: some DataProtocol, signs plaintext: some DataProtocol) throws -> Bool {
        try sign(plaintext) == Array(signature)
    }
}
