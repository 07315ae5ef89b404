/// ASCII helpers for header names and tokens, on bytes.
enum ASCII {
    /// Where `byte` (ASCII) first occurs in `text`: a scan of its contiguous UTF-8 bytes.
    /// `text.utf8.firstIndex(of:)` walks the view one index at a time, about 280
    /// instructions for a short request target, and runs twice per request.
    static func firstIndex(of byte: UInt8, in text: String) -> String.Index? {
        let offset: Int?? = text.utf8.withContiguousStorageIfAvailable { $0.firstIndex(of: byte) }
        switch offset {
        case .some(.some(let offset)): return text.utf8.index(text.utf8.startIndex, offsetBy: offset)
        case .some(.none): return nil
        case .none: return text.utf8.firstIndex(of: byte)
        }
    }

    @inline(__always)
    static func lowered(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }

    /// Whether `bytes` equal the lower-case `expected`, ignoring ASCII case.
    @inline(__always)
    static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ expected: StaticString) -> Bool {
        guard bytes.count == expected.utf8CodeUnitCount else { return false }
        let target = expected.utf8Start
        for index in 0..<bytes.count where lowered(bytes[index]) != target[index] { return false }
        return true
    }

    /// Whether `text` equals the lower-case `expected`, ignoring ASCII case.
    static func equalsIgnoringCase(_ text: Substring, _ expected: StaticString) -> Bool {
        if let fast = text.utf8.withContiguousStorageIfAvailable({ equalsIgnoringCase($0, expected) }) { return fast }
        return text.utf8.elementsEqual(UnsafeBufferPointer(start: expected.utf8Start, count: expected.utf8CodeUnitCount)) { lowered($0) == $1 }
    }

    /// Whether two strings are equal ignoring ASCII case, without allocating.
    static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        let fast = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in
                for index in 0..<left.count where lowered(left[index]) != lowered(right[index]) { return false }
                return true
            }
        }
        if let fast = fast ?? nil { return fast }
        return a.utf8.elementsEqual(b.utf8) { lowered($0) == lowered($1) }
    }
}

extension String {
    /// ASCII case-insensitive equality, without allocating.
    @inline(__always)
    func caseInsensitiveEquals(_ other: String) -> Bool {
        ASCII.equalsIgnoringCase(self, other)
    }
}

/// The value of one hexadecimal digit, or nil.
func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
