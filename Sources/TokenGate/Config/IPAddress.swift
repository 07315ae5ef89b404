#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
/// An IPv4 or IPv6 address as 4 or 16 bytes, held inline (two words): every client
/// connection keeps its peer's, and an array of bytes was an allocation each one held.
struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address's bytes in network order: bytes 0–7 in `high` and 8–15 in `low`, most
    /// significant first; an IPv4 address is the top four bytes of `high`, the rest zero.
    private let high: UInt64
    private let low: UInt64
    /// 4 or 16.
    let count: UInt8

    init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = withUnsafeBytes(of: &v4) { IPAddress(networkOrder: $0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = withUnsafeBytes(of: &v6) { IPAddress(networkOrder: $0) }
            return
        }
        return nil
    }

    /// The 4 or 16 bytes of an address in network order (`in_addr`, `in6_addr`). An
    /// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address.
    init(networkOrder raw: UnsafeRawBufferPointer) {
        func word(_ range: Range<Int>) -> UInt64 {
            var value: UInt64 = 0
            for index in range { value = value << 8 | UInt64(raw[index]) }
            return value << (8 * UInt64(8 - range.count))
        }
        if raw.count == 16, word(0..<8) == 0, word(8..<12) == 0x0000_ffff << 32 {
            high = word(12..<16)
            low = 0
            count = 4
        } else if raw.count == 16 {
            high = word(0..<8)
            low = word(8..<16)
            count = 16
        } else {
            high = word(0..<min(raw.count, 4))
            low = 0
            count = 4
        }
    }

    var isV4: Bool { count == 4 }

    /// Byte `index` (0 ..< count), most significant first.
    func byte(_ index: Int) -> UInt8 {
        let word = index < 8 ? high : low
        return UInt8(truncatingIfNeeded: word >> (8 * UInt64(7 - index % 8)))
    }

    /// The bytes, most significant first (off the hot path: an array).
    var bytes: [UInt8] { (0..<Int(count)).map(byte) }

    /// Whether the first `prefixLength` bits equal `other`'s (both of one family).
    func sharesPrefix(_ prefixLength: Int, with other: IPAddress) -> Bool {
        guard count == other.count else { return false }
        let bits = max(0, min(prefixLength, 8 * Int(count)))
        // Smart shifts: a shift by 64 gives 0, so /0 masks nothing and /64 all of `high`.
        let highMask = ~UInt64(0) << UInt64(64 - min(bits, 64))
        let lowMask = ~UInt64(0) << UInt64(64 - max(bits - 64, 0))
        return (high ^ other.high) & highMask == 0 && (low ^ other.low) & lowMask == 0
    }

    /// 127.0.0.0/8, ::1, and 127.x written as an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`).
    var isLoopback: Bool {
        isV4 ? byte(0) == 127 : high == 0 && low == 1
    }

    var description: String {
        if isV4 { return "\(byte(0)).\(byte(1)).\(byte(2)).\(byte(3))" }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
        guard inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
