/// Request ids for `X-Request-Id`: a random prefix per connection (one `getrandom` per
/// connection, not per request) and a counter, so ids are unique across connections,
/// restarts and replicas without a system call per request.
struct RequestIDGenerator {
    private let prefix: [UInt8]
    private var counter: UInt32 = 0

    init() {
        prefix = Array(Self.hex(UInt64.random(in: .min ... .max), digits: 16).utf8)
    }

    /// A new id: 24 lower-case hex digits.
    mutating func next() -> String {
        counter &+= 1
        let counter = counter
        return String(unsafeUninitializedCapacity: 24) { buffer in
            for index in 0..<16 { buffer[index] = prefix[index] }
            for index in 0..<8 {
                let nibble = UInt8(truncatingIfNeeded: counter >> (28 - 4 * index)) & 0xf
                buffer[16 + index] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            }
            return 24
        }
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

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
