import Crypto

/// The cache key of a bearer token: its SHA-256 under a salt drawn when the process
/// starts, so no cache holds a raw token as a key and keys mean nothing outside this
/// process. Four words, hashed and compared as integers (the digest type compares in
/// constant time and hashes through its bytes, at several times the cost, for no gain on
/// a salted cache key). Introspection and JWT caches share it, so a connection hashes its
/// token once for both.
struct TokenCacheKey: Hashable, Sendable {
    let first: UInt64
    let second: UInt64
    let third: UInt64
    let fourth: UInt64

    /// SHA-256 state after the salt, copied for each token.
    private static let salted: SHA256 = {
        var generator = SystemRandomNumberGenerator()
        var hasher = SHA256()
        hasher.update(data: (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } })
        return hasher
    }()

    init(token: String) {
        var hasher = Self.salted
        var token = token
        token.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        (first, second, third, fourth) = digest.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
             raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }
}
