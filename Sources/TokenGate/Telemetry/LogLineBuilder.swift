#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds one log line as bytes: no intermediate strings, JSON escaping only where a
/// value needs it. The access log writes a line per request, so this is hot-path code;
/// its `quoted` is also the gateway's one JSON string escaper (`JSONText.quote`).
struct LogLineBuilder {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 384) {
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Text as it is (a caller made sure it needs no quoting).
    mutating func plain(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// A JSON string literal.
    mutating func quoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        let utf8 = text.utf8
        if !utf8.contains(where: Self.needsEscape) {
            bytes.append(contentsOf: utf8)
        } else {
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(byte)
                case UInt8(ascii: "\n"): raw("\\n")
                case UInt8(ascii: "\r"): raw("\\r")
                case UInt8(ascii: "\t"): raw("\\t")
                case 0..<0x20:
                    raw("\\u00")
                    bytes.append(Self.hexDigit(byte >> 4))
                    bytes.append(Self.hexDigit(byte & 0xf))
                default:
                    bytes.append(byte)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
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
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            integer(-value)
            return
        }
        if value >= 10 { integer(value / 10) }
        bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    /// Milliseconds with microsecond precision: `12.345`.
    mutating func milliseconds(nanoseconds: Int64) {
        let micros = Int(max(0, nanoseconds / 1000))
        integer(micros / 1000)
        bytes.append(UInt8(ascii: "."))
        padded(micros % 1000, width: 3)
    }

    /// Now, as RFC 3339 UTC with milliseconds: `2026-11-29T08:01:51.538Z`.
    mutating func timestamp() {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        timestamp(epochSeconds: Int(spec.tv_sec), milliseconds: Int(spec.tv_nsec) / 1_000_000)
    }

    /// A time in seconds since the epoch, as RFC 3339 UTC with milliseconds.
    mutating func timestamp(epochSeconds: Int, milliseconds: Int) {
        var seconds = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        padded(Int(parts.tm_year) + 1900, width: 4)
        bytes.append(UInt8(ascii: "-"))
        padded(Int(parts.tm_mon) + 1, width: 2)
        bytes.append(UInt8(ascii: "-"))
        padded(Int(parts.tm_mday), width: 2)
        bytes.append(UInt8(ascii: "T"))
        padded(Int(parts.tm_hour), width: 2)
        bytes.append(UInt8(ascii: ":"))
        padded(Int(parts.tm_min), width: 2)
        bytes.append(UInt8(ascii: ":"))
        padded(Int(parts.tm_sec), width: 2)
        bytes.append(UInt8(ascii: "."))
        padded(milliseconds, width: 3)
        bytes.append(UInt8(ascii: "Z"))
    }

    private mutating func padded(_ value: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
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
