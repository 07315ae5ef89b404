import Crypto
import ExtrasBase64

/// Seals and opens cookie values with AES-256-GCM (authenticated encryption: a changed,
/// truncated or swapped byte fails to open; there is no padding to probe, unlike the CBC
/// cookies of Envoy's CVE-2026-47775).
///
/// A sealed value is `base64url(version | key-id length | key id | nonce | ciphertext |
/// tag)`. The key id, the login profile and its issuer (`CookieScope`) and the cookie's
/// name are associated data, so a value sealed for one cookie (a state cookie) does not
/// open as another (the session), and a value one login profile sealed does not open under
/// another, even when both use the same cookie key (someone who signed themselves up at
/// one provider is never served as the staff provider's user). The first key seals;
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
    /// `CookieScope.bytes` of the profile these cookies belong to.
    private let scope: [UInt8]

    /// `secrets`: (key id, secret) in the configured order; the first seals. `scope`: the
    /// login profile (and issuer) every value is bound to.
    /// `salt`: what the keys are derived for (the fleet's store uses its own, so a secret
    /// used both as a cookie key and a seal key still gives two keys).
    init(secrets: [(id: String, secret: [UInt8])], scope: CookieScope, salt: String = "tokengate cookie") {
        self.scope = scope.bytes
        keys = secrets.map { entry in
            Key(id: entry.id, key: HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: entry.secret), salt: Array(salt.utf8),
                info: Array(entry.id.utf8), outputByteCount: 32
            ))
        }
    }

    var sealingKeyID: String? { keys.first?.id }

    func seal(_ plaintext: [UInt8], cookieName: String) -> String? {
        guard let key = keys.first, key.id.utf8.count < 256,
              let box = try? AES.GCM.seal(plaintext, using: key.key, authenticating: associatedData(key.id, cookieName))
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
              let plaintext = try? AES.GCM.open(box, using: key.key, authenticating: associatedData(id, cookieName))
        else { return nil }
        return Array(plaintext)
    }

    /// `tokengate-cookie-v2`, then the key id, the scope and the cookie's name, each after
    /// its length, so no two different triples give the same bytes. (v1 had no scope:
    /// sessions sealed before it no longer open, and their cookies had other names anyway.)
    private func associatedData(_ keyID: String, _ cookieName: String) -> [UInt8] {
        var data = Array("tokengate-cookie-v2".utf8)
        for part in [Array(keyID.utf8), scope, Array(cookieName.utf8)] {
            CookieScope.appendLengthPrefixed(part, to: &data)
        }
        return data
    }
}

/// What a login profile's cookies belong to: the profile's name and its issuer. Bound into
/// the associated data of every value the profile seals, and as a short tag into every
/// cookie name (`__Host-tg-TAG-session`), so two login profiles on one host neither open
/// nor overwrite nor delete each other's cookies, whatever keys they use.
struct CookieScope: Sendable, Equatable {
    var profile: String
    var issuer: String

    /// The profile's name and issuer, each after its length: unambiguous.
    var bytes: [UInt8] {
        var data: [UInt8] = []
        Self.appendLengthPrefixed(Array(profile.utf8), to: &data)
        Self.appendLengthPrefixed(Array(issuer.utf8), to: &data)
        return data
    }

    /// Eight hex digits of the SHA-256 of `bytes`: short, the same across restarts, reloads
    /// and replicas, and changed only by renaming the profile or changing its issuer (which
    /// rightly ends its sessions).
    var tag: String { LoginCookies.hex(SHA256.hash(data: bytes).prefix(4)) }

    /// Appends `part`'s length (4 bytes, big-endian) and then `part`.
    static func appendLengthPrefixed(_ part: [UInt8], to data: inout [UInt8]) {
        let length = UInt32(truncatingIfNeeded: part.count)
        data.append(contentsOf: [UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
                                 UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)])
        data.append(contentsOf: part)
    }
}
