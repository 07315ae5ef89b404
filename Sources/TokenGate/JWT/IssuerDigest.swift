import Crypto

/// A fixed-size stand-in for an issuer identifier (a JWT's `iss`): the first 16 bytes of
/// the SHA-256 of its UTF-8, as two words.
///
/// The introspection cache keeps one with each answer for a JWS, so a route with a JWT
/// profile can tell that profile's tokens apart on a cache hit
/// (`IntrospectionProfile.cached(key:unlessFrom:)`). Keeping the `iss` string itself let
/// any unauthenticated client park kilobytes of its own choosing in every inactive-cache
/// entry; this is 16 bytes whatever the `iss`. Equal strings always give equal digests,
/// so the profile's own tokens are always told apart; a different `iss` matching would
/// take a 128-bit second preimage, and would only send that token to the JWT profile
/// (which refuses it) instead of the cached answer.
struct IssuerDigest: Hashable, Sendable {
    let first: UInt64
    let second: UInt64

    init(_ issuer: String) {
        var hasher = SHA256()
        var issuer = issuer
        issuer.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        (first, second) = digest.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }
}
