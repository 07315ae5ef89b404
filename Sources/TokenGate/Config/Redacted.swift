#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
/// A value that must never reach output. Its description, debug description and
/// string interpolation all render as `<redacted>`; the value itself is only reachable
/// through `revealed`, which makes every use easy to find in review.
public struct Redacted: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    init(_ value: String) { self.value = value }

    /// The secret itself, for the one place that must send it (a token request, a header).
    public var revealed: String { value }

    /// Byte for byte, never `String ==`: that is canonical equivalence, under which `K` and
    /// U+212A KELVIN SIGN are one character, and a token or secret is its bytes (what is
    /// sent, and what the cache keys hash).
    public static func == (lhs: Redacted, rhs: Redacted) -> Bool {
        ExactBytes.equal(lhs.value, rhs.value)
    }

    public func hash(into hasher: inout Hasher) {
        var value = value
        value.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    public var description: String { Redaction.placeholder }
    public var debugDescription: String { Redaction.placeholder }
    /// No children, so `dump` and reflection cannot reach the value either.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
