import Crypto

/// A fixed-size stand-in for an identifier of any length: the first 16 bytes of the
/// SHA-256 of its UTF-8, as two words (hashed and compared as integers). Unsalted, so
/// the same string gives the same digest across a reload; a different string matching
/// would take a 128-bit second preimage.
///
/// Used where the gateway must remember strings someone else chose without holding their
/// bytes: a JWT's `iss` beside each introspection cache entry
/// (`IntrospectionProfile.cached(key:unlessFrom:)`: the string itself let any
/// unauthenticated client park kilobytes in every inactive-cache entry), and the ids a
/// login profile's `RevocationList` keeps until their time is over.
struct ShortDigest: Hashable, Sendable {
    let first: UInt64
    let second: UInt64

    init(first: UInt64, second: UInt64) {
        self.first = first
        self.second = second
    }

    init(_ text: String) {
        var hasher = SHA256()
        var text = text
        text.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        (first, second) = digest.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }
}
