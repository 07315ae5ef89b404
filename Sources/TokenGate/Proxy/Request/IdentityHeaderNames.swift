import NIOCore
import NIOSSL

/// Every identity header name the gateway may set, in the form used to strip look-alikes
/// sent by clients: lower-cased, with `_` as `-` (a client's `X_Auth_Subject`, which some
/// servers read as `X-Auth-Subject`, is removed like `x-auth-subject`).
///
/// It is the union over every route of the configuration (and of the one before a
/// reload), stripped on every route of every listener: a route that does not validate
/// must not let a client reach the same upstream with a forged `X-Auth-Subject`.
struct IdentityHeaderNames: Sendable, Equatable {
    private(set) var keys: [String] = []
    /// Bit n set when some key is n bytes long (n < 64), so most names are turned away
    /// without a comparison.
    private var lengths: UInt64 = 0

    init(_ names: some Sequence<String> = []) {
        for name in names { insert(name) }
    }

    mutating func insert(_ name: String) {
        let key = Self.key(name)
        if !keys.contains(key) { keys.append(key) }
        lengths |= Self.lengthBit(key.utf8.count)
    }

    mutating func formUnion(_ other: IdentityHeaderNames) {
        for key in other.keys { insert(key) }
    }

    private static func lengthBit(_ count: Int) -> UInt64 {
        count < 64 ? 1 << UInt64(count) : 1 << 63
    }

    static func key(_ name: String) -> String {
        String(decoding: name.utf8.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : ($0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0) }, as: UTF8.self)
    }

    /// Whether a client's header could be mistaken for an identity header.
    func isLookalike(_ name: String) -> Bool {
        let count = name.utf8.count
        guard lengths & Self.lengthBit(count) != 0 else { return false }
        return keys.contains { key in
            key.utf8.count == count && zip(key.utf8, name.utf8).allSatisfy { expected, byte in
                let normal = byte == UInt8(ascii: "_") ? UInt8(ascii: "-") : (byte >= 65 && byte <= 90 ? byte | 0x20 : byte)
                return normal == expected
            }
        }
    }
}
