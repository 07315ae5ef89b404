/// A set of bytes as a 256-entry table: one load per byte, for the checks that run over
/// every byte the gateway writes into a head.
struct ByteClass: Sendable {
    private let members: [Bool]

    init(_ member: (UInt8) -> Bool) {
        members = (0...255).map { member(UInt8($0)) }
    }

    @inline(__always)
    func contains(_ byte: UInt8) -> Bool {
        members.withUnsafeBufferPointer { $0[Int(byte)] }
    }

    /// The table itself, for loops that do more than `containsAll`.
    @inline(__always)
    func withTable<Result>(_ body: (UnsafeBufferPointer<Bool>) -> Result) -> Result {
        members.withUnsafeBufferPointer(body)
    }

    func containsAll(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        members.withUnsafeBufferPointer { table in
            for byte in bytes where !table[Int(byte)] { return false }
            return true
        }
    }

    /// RFC 9110 §5.6.2 `tchar`: field names and methods.
    static let token = ByteClass { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// RFC 6750 §2.1 `b64token` characters (the `=` padding apart): ALPHA, DIGIT and
    /// `-` `.` `_` `~` `+` `/`.
    static let b64Token = ByteClass { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }

    /// RFC 9110 §5.5 field content: visible characters, obs-text, SP and HTAB.
    static let fieldValue = ByteClass { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }

    /// `fieldValue.containsAll(bytes)`, eight bytes at a time: every field value the
    /// gateway writes goes through it. A word with no byte below 0x20 and none equal to
    /// 0x7F is all field content (bytes from 0x80 are obs-text); a word with one is looked up
    /// byte by byte (it may hold an allowed HTAB). `ByteClassTests` checks it against the
    /// table.
    static func isFieldValue(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var at = 0
        while bytes.count &- at >= 8 {
            let word = UnsafeRawPointer(base + at).loadUnaligned(as: UInt64.self)
            // Some byte < 0x20: (w - 0x20…) & ~w & 0x80… (exact for a threshold ≤ 0x80).
            let control = (word &- ones &* 0x20) & ~word & highs
            // Some byte == 0x7F: the same test for zero, on w ^ 0x7F….
            let flipped = word ^ (ones &* 0x7F)
            let delete = (flipped &- ones) & ~flipped & highs
            if control | delete != 0 {
                for index in at..<(at &+ 8) where !fieldValue.contains(bytes[index]) { return false }
            }
            at &+= 8
        }
        while at < bytes.count {
            if !fieldValue.contains(bytes[at]) { return false }
            at &+= 1
        }
        return true
    }

    /// A request-target byte: anything visible (the planner has already normalised and
    /// escaped the target); never whitespace or a control.
    static let target = ByteClass { $0 > 0x20 && $0 != 0x7F }
}
