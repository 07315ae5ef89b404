#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
/// Where a secret comes from: `{"env": NAME}`, `{"file": PATH}` or an inline string.
enum SecretReference: Sendable, Hashable, CustomStringConvertible {
    case environment(String)
    case file(String)
    case inline(Redacted)

    /// Names the source, never the value.
    var description: String {
        switch self {
        case .environment(let name): return "environment variable \(name)"
        case .file(let path): return "file \(path)"
        case .inline: return "inline value"
        }
    }
}
