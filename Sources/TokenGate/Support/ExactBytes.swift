#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-for-byte string equality, never `String ==`: that is canonical equivalence, under
/// which `K` and U+212A KELVIN SIGN are one character, while a token or a secret is its
/// bytes (what is sent, and what cache keys hash). One `memcmp` over contiguous
/// UTF-8 (a Unicode-aware view walk costs about 70 instructions a byte: 33k for a
/// keep-alive client's 469-byte JWT on every request).
enum ExactBytes {
    static func equal(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var lhs = lhs
        var rhs = rhs
        return lhs.withUTF8 { left in
            rhs.withUTF8 { right in
                guard let a = left.baseAddress, let b = right.baseAddress else { return left.count == right.count }
                return memcmp(a, b, left.count) == 0
            }
        }
    }
}
