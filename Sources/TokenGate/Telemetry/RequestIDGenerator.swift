/// Request ids for `X-Request-Id`: a random prefix per connection (one `getrandom` per
/// connection, not per request) and a counter, so ids are unique across connections,
/// restarts and replicas without a system call per request.
struct RequestIDGenerator {
    /// The connection's random prefix, written out as 16 hex digits in each id (kept as a
    /// number: an array of its digits was an allocation every connection held).
    private let prefix = UInt64.random(in: .min ... .max)
    private var counter: UInt32 = 0

    /// A new id: 24 lower-case hex digits.
    mutating func next() -> String {
        counter &+= 1
        let prefix = prefix
        let counter = counter
        return String(unsafeUninitializedCapacity: 24) { buffer in
            for index in 0..<16 {
                buffer[index] = Self.hexDigit(UInt8(truncatingIfNeeded: prefix >> (60 - 4 * UInt64(index))) & 0xf)
            }
            for index in 0..<8 {
                buffer[16 + index] = Self.hexDigit(UInt8(truncatingIfNeeded: counter >> (28 - 4 * index)) & 0xf)
            }
            return 24
        }
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// Whether a client's `X-Request-Id` is kept: 1 to 128 characters from a set that
    /// cannot break a log line or a header (letters, digits, `-._:+/=@`).
    static func isAcceptable(_ value: String) -> Bool {
        let bytes = value.utf8
        guard !bytes.isEmpty, bytes.count <= 128 else { return false }
        return bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "-._:+/=@".utf8.contains(byte)
        }
    }
}
