import Crypto
import ExtrasBase64

/// Seals and opens cookie values with AES-256-GCM (authenticated encryption: a changed,
/// truncated or swapped byte fails to open; there is no padding to probe, unlike the CBC
/// cookies of Envoy's CVE-2026-47775).
///
/// A sealed value is `base64url(version | key-id length | key id | nonce | ciphertext |
/// tag)`. The key id and the cookie's name are associated data, so a value sealed for one
/// cookie (a state cookie) does not open as another (the session). The first key seals;
/// every key opens, so adding a new key first and keeping the old one for a while
/// rotates keys without logging anyone out. Keys are derived from the configured secrets
/// with HKDF-SHA256, one per key id.
struct CookieSealer: Sendable {
    struct Key: Sendable {
        var id: String
        var key: SymmetricKey
    }

    static let version: UInt8 = 1

    let keys: [Key]

    /// `secrets`: (key id, secret) in the configured order; the first seals.
    init(secrets: [(id: String, secret: [UInt8])]) {
        keys = secrets.map { entry in
            Key(id: entry.id, key: HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: entry.secret), salt: Array("tokengate cookie".utf8),
                info: Array(entry.id.utf8), outputByteCount: 32
            ))
        }
    }

    var sealingKeyID: String? { keys.first?.id }

    func seal(_ plaintext: [UInt8], cookieName: String) -> String? {
        guard let key = keys.first, key.id.utf8.count < 256,
              let box = try? AES.GCM.seal(plaintext, using: key.key, authenticating: Self.associatedData(key.id, cookieName))
        else { return nil }
        var out: [UInt8] = [Self.version, UInt8(key.id.utf8.count)]
        out.append(contentsOf: key.id.utf8)
        out.append(contentsOf: box.nonce)
        out.append(contentsOf: box.ciphertext)
        out.append(contentsOf: box.tag)
        return Base64.encodeToString(bytes: out, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }

    /// The plaintext, or nil when `value` was not sealed by one of the keys for this cookie.
    func open(_ value: String, cookieName: String) -> [UInt8]? {
        guard let bytes = try? Base64.decode(string: value, options: [.base64UrlAlphabet, .omitPaddingCharacter]),
              bytes.count >= 2, bytes[0] == Self.version,
              // Canonical only: the last character's spare bits could otherwise change
              // without changing the bytes, and a changed cookie must never open.
              Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter]) == value
        else { return nil }
        let idLength = Int(bytes[1])
        let nonceStart = 2 + idLength
        guard bytes.count >= nonceStart + 12 + 16 else { return nil }
        let id = String(decoding: bytes[2..<nonceStart], as: UTF8.self)
        guard let key = keys.first(where: { $0.id == id }),
              let nonce = try? AES.GCM.Nonce(data: bytes[nonceStart..<(nonceStart + 12)]),
              let box = try? AES.GCM.SealedBox(nonce: nonce, ciphertext: bytes[(nonceStart + 12)..<(bytes.count - 16)], tag: bytes[(bytes.count - 16)...]),
              let plaintext = try? AES.GCM.open(box, using: key.key, authenticating: Self.associatedData(id, cookieName))
        else { return nil }
        return Array(plaintext)
    }

    private static func associatedData(_ keyID: String, _ cookieName: String) -> [UInt8] {
        Array("tokengate-cookie-v1\u{0}\(keyID)\u{0}\(cookieName)".utf8)
    }
}
