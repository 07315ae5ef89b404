#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
/// Why a secret could not be read. Its text names the source, never a value.
struct SecretResolutionError: Error, Sendable, CustomStringConvertible {
    var description: String
}
