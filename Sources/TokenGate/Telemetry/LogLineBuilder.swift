#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one log line as bytes into memory its caller provides, sized with `bound(_:)`:
/// no intermediate strings, no capacity check per piece, JSON escaping only where a value
/// needs it. The access log writes a line per request, so this is hot-path code; its
/// `quoted` is also the gateway's one JSON string escaper (`JSONText.quote`). Every write
/// is checked against the end of the memory: a wrong bound truncates, it never overflows.
struct LogLineBuilder {
    private let out: UnsafeMutableRawBufferPointer
    /// Bytes written so far.
    private(set) var count = 0

    init(into out: UnsafeMutableRawBufferPointer) {
        self.out = out
    }

    /// A string of what `body` writes (at most `capacity` bytes).
    static func string(capacity: Int, _ body: (inout LogLineBuilder) -> Void) -> String {
        String(unsafeUninitializedCapacity: capacity) { memory in
            var builder = LogLineBuilder(into: UnsafeMutableRawBufferPointer(memory))
            body(&builder)
            return builder.count
        }
    }

    /// The most `quoted` or `field` writes for `text`: every byte escaped as `\u00XX`, and
    /// the quotes (or `null`).
    static func bound(_ text: String?) -> Int {
        6 &* (text?.utf8.count ?? 0) &+ 4
    }

    /// The most `integer` or `milliseconds` writes.
    static let numberBound = 24
    /// What `timestamp` writes.
    static let timestampBound = 24

    @inline(__always)
    private mutating func byte(_ value: UInt8) {
        guard count < out.count else { return }
        out[count] = value
        count &+= 1
    }

    @inline(__always)
    private mutating func bytes(_ source: UnsafeRawBufferPointer) {
        guard let base = source.baseAddress, let target = out.baseAddress, source.count <= out.count &- count else { return }
        (target + count).copyMemory(from: base, byteCount: source.count)
        count &+= source.count
    }

    mutating func raw(_ text: StaticString) {
        bytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Text as it is (a caller made sure it needs no quoting).
    mutating func plain(_ text: String) {
        if text.utf8.withContiguousStorageIfAvailable({ bytes(UnsafeRawBufferPointer($0)) }) == nil {
            for value in text.utf8 { byte(value) }
        }
    }

    /// A JSON string literal.
    mutating func quoted(_ text: String) {
        byte(UInt8(ascii: "\""))
        let copied: Bool? = text.utf8.withContiguousStorageIfAvailable { utf8 in
            // The usual value needs no escape: one scan, one copy.
            for value in utf8 where Self.needsEscape(value) { return false }
            bytes(UnsafeRawBufferPointer(utf8))
            return true
        }
        if copied != true {
            for value in text.utf8 {
                switch value {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    byte(UInt8(ascii: "\\"))
                    byte(value)
                case UInt8(ascii: "\n"): raw("\\n")
                case UInt8(ascii: "\r"): raw("\\r")
                case UInt8(ascii: "\t"): raw("\\t")
                case 0..<0x20:
                    raw("\\u00")
                    byte(Self.hexDigit(value >> 4))
                    byte(Self.hexDigit(value & 0xf))
                default:
                    byte(value)
                }
            }
        }
        byte(UInt8(ascii: "\""))
    }

    /// A JSON string literal, or `null`.
    mutating func quoted(_ text: String?) {
        if let text { quoted(text) } else { raw("null") }
    }

    /// A text-format field: `-` when absent or empty, JSON-quoted when it holds a space,
    /// a quote or a control character, as is otherwise.
    mutating func field(_ text: String?) {
        guard let text, !text.isEmpty else { return raw("-") }
        if text.utf8.contains(where: { $0 == UInt8(ascii: " ") || Self.needsEscape($0) }) { quoted(text) } else { plain(text) }
    }

    mutating func integer(_ value: Int) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        var rest = value.magnitude
        var divisor: UInt = 1
        while divisor <= rest / 10 { divisor &*= 10 }
        while divisor > 0 {
            byte(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Milliseconds with microsecond precision: `12.345`.
    mutating func milliseconds(nanoseconds: Int64) {
        let micros = Int(max(0, nanoseconds / 1000))
        integer(micros / 1000)
        byte(UInt8(ascii: "."))
        padded(micros % 1000, width: 3)
    }

    /// Now, as RFC 3339 UTC with milliseconds: `2026-11-29T08:01:51.538Z`.
    mutating func timestamp() {
        let now = Self.now()
        timestamp(epochSeconds: now.seconds, milliseconds: now.milliseconds)
    }

    /// Now, with the date and time of day taken from `cache` while the second is the same.
    mutating func timestamp(cache: inout TimestampCache) {
        let now = Self.now()
        if now.seconds != cache.second {
            // `2026-11-29T08:01:51.`: everything before the milliseconds.
            cache.prefix = Array(Self.string(capacity: Self.timestampBound) { $0.timestamp(epochSeconds: now.seconds, milliseconds: 0) }.utf8.prefix(20))
            cache.second = now.seconds
        }
        cache.prefix.withUnsafeBytes { bytes($0) }
        padded(now.milliseconds, width: 3)
        byte(UInt8(ascii: "Z"))
    }

    /// The wall clock, in whole seconds since the epoch and milliseconds.
    private static func now() -> (seconds: Int, milliseconds: Int) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return (Int(spec.tv_sec), Int(spec.tv_nsec) / 1_000_000)
    }

    /// A time in seconds since the epoch, as RFC 3339 UTC with milliseconds. The civil date
    /// comes from arithmetic (Howard Hinnant's `civil_from_days`), not `gmtime_r`.
    mutating func timestamp(epochSeconds: Int, milliseconds: Int) {
        let days = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
        let secondOfDay = epochSeconds - days * 86_400
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        padded(year, width: 4)
        byte(UInt8(ascii: "-"))
        padded(month, width: 2)
        byte(UInt8(ascii: "-"))
        padded(day, width: 2)
        byte(UInt8(ascii: "T"))
        padded(secondOfDay / 3600, width: 2)
        byte(UInt8(ascii: ":"))
        padded(secondOfDay / 60 % 60, width: 2)
        byte(UInt8(ascii: ":"))
        padded(secondOfDay % 60, width: 2)
        byte(UInt8(ascii: "."))
        padded(milliseconds, width: 3)
        byte(UInt8(ascii: "Z"))
    }

    /// `value` in exactly `width` decimal digits (the low ones), zero-padded.
    private mutating func padded(_ value: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor &*= 10 }
        let rest = value.magnitude
        while divisor > 0 {
            byte(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / UInt(divisor) % 10))
            divisor /= 10
        }
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}

/// The formatted date and time of day of the last second a line was written in.
struct TimestampCache {
    fileprivate var second = Int.min
    fileprivate var prefix: [UInt8] = []
}
