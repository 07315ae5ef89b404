import Testing
@testable import TokenGate

/// `ByteClass.isFieldValue` reads eight bytes at a time; it must agree with the table
/// (`fieldValue.containsAll`) on every input, wherever the refused byte sits.
@Suite("Byte classes")
struct ByteClassTests {
    private func agree(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { ByteClass.isFieldValue($0) == ByteClass.fieldValue.containsAll($0) }
    }

    @Test("every byte value at every position of values up to 24 bytes long: the word check agrees with the table")
    func everyBytePosition() {
        var checked = 0
        for length in 1...24 {
            for position in 0..<length {
                for byte in UInt8.min...UInt8.max {
                    var value = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    value[position] = byte
                    #expect(agree(value), "byte \(byte) at \(position) of \(length)")
                    checked += 1
                }
            }
        }
        #expect(checked == 300 * 256)
        // HTAB is allowed, DEL, CR, LF and NUL are not, obs-text is, in a word and in the tail.
        for (text, allowed) in [("a\tbcdefgh ij", true), ("abcdefgh\u{7F}", false), ("abc\r\ndefgh", false),
                                ("abcdefghijkl\0", false), ("caf\u{E9} cr\u{E8}me br\u{FB}l\u{E9}e", true), ("", true)] {
            #expect(Array(text.utf8).withUnsafeBufferPointer { ByteClass.isFieldValue($0) } == allowed, "\(text.debugDescription)")
        }
    }

    @Test("10,000 random values with random controls: the word check agrees with the table")
    func randomValues() {
        var generator = SplitMix(seed: 0x5EED)
        var refused = 0
        for _ in 0..<10_000 {
            let length = Int(generator.next() % 64)
            var value = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next() % 96 + 0x20) }
            if length > 0, generator.next() % 2 == 0 {
                value[Int(generator.next() % UInt64(length))] = UInt8(truncatingIfNeeded: generator.next() % 0x20)
            }
            if !value.withUnsafeBufferPointer({ ByteClass.fieldValue.containsAll($0) }) { refused += 1 }
            #expect(agree(value))
        }
        #expect(refused > 1_000)
    }
}

/// A small deterministic generator, so a failure names a reproducible input.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
