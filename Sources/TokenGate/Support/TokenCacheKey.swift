import Crypto

/// The cache key of a bearer token: its SHA-256, so no cache holds a raw token as a key.
/// Four words, hashed and compared as integers (the digest type compares in constant time
/// and hashes through its bytes, at several times the cost, for no gain on a cache key).
/// Introspection and JWT caches share it, so a connection hashes its token once for both,
/// and so does the fleet's list of revoked tokens (`TokenRevocations`): the digest is
/// unsalted so that every replica computes the same one for a token another replica
/// revoked (tokens are long random or signed strings, so the digest reveals nothing).
struct TokenCacheKey: Hashable, Sendable {
    let first: UInt64
    let second: UInt64
    let third: UInt64
    let fourth: UInt64

    init(first: UInt64, second: UInt64, third: UInt64, fourth: UInt64) {
        (self.first, self.second, self.third, self.fourth) = (first, second, third, fourth)
    }

    init(token: String) {
        var hasher = SHA256()
        var token = token
        token.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        (first, second, third, fourth) = digest.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
             raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }
}
