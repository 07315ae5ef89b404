import NIOCore
@testable import TokenGate

/// `ChunkedCoding`, the chunked framing the gateway writes (a client's chunked body on its
/// way upstream, a response of unknown length). The input is cut into parts: each part's
/// length comes from two bytes (big-endian, so parts reach past `copyLimit` and take the
/// no-copy path), its contents from the bytes after them.
///
/// Invariants: the framed stream, read back by a strict RFC 9112 §7.1 decoder, is the
/// parts in order, ends with the last chunk and nothing after it; an empty part writes
/// nothing; every size line reads back as its length.
enum ChunkedTarget {
    static func run(_ bytes: [UInt8]) {
        let allocator = ByteBufferAllocator()
        var framed: [UInt8] = []
        var body: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let high = Int(bytes[index])
            let low = index + 1 < bytes.count ? Int(bytes[index + 1]) : 0
            index += 2
            let length = min(high << 8 | low, bytes.count - min(index, bytes.count))
            let part = length > 0 ? Array(bytes[index..<(index + length)]) : []
            index += length
            var writes = 0
            ChunkedCoding.frame(ByteBuffer(bytes: part), allocator: allocator) { buffer in
                writes += 1
                framed += Array(buffer.readableBytesView)
            }
            invariant(part.isEmpty ? writes == 0 : writes == (part.count <= ChunkedCoding.copyLimit ? 1 : 3), "a part was framed in an unexpected number of writes")
            body += part
        }
        framed += Array("\(ChunkedCoding.lastChunk)".utf8)
        guard let decoded = decode(framed) else {
            invariant(false, "the framed body is not valid chunked coding")
            return
        }
        invariant(decoded == body, "the framed body reads back as other bytes")

        // Size lines for lengths the body never reaches, from the input's first 8 bytes.
        let raw = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        for length in [Int(truncatingIfNeeded: raw & UInt64(Int.max)), Int(truncatingIfNeeded: raw >> 40), 0, 15, 16, 4096, 65_535, Int.max] {
            var line = allocator.buffer(capacity: 20)
            ChunkedCoding.writeSizeLine(length, into: &line)
            let text = Array(line.readableBytesView)
            invariant(text.count >= 3 && text.suffix(2) == [0x0D, 0x0A], "a size line does not end with CRLF")
            let digits = text.dropLast(2)
            invariant(digits.first != UInt8(ascii: "0") || digits.count == 1, "a size line has a leading zero")
            invariant(parseHex(digits) == length, "a size line does not read back as its length")
        }
    }

    /// A strict decoder: `1*HEXDIG CRLF data CRLF` … `0 CRLF CRLF`, no extensions, no
    /// trailers, nothing after the end; nil when anything else is found.
    static func decode(_ bytes: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var index = 0
        while true {
            var end = index
            while end < bytes.count, hexDigitValue(bytes[end]) != nil { end += 1 }
            guard end > index, end - index <= 16, let size = parseHex(bytes[index..<end]),
                  end + 1 < bytes.count, bytes[end] == 0x0D, bytes[end + 1] == 0x0A else { return nil }
            index = end + 2
            if size == 0 {
                guard index + 2 == bytes.count, bytes[index] == 0x0D, bytes[index + 1] == 0x0A else { return nil }
                return out
            }
            guard size <= bytes.count - index - 2, bytes[index + size] == 0x0D, bytes[index + size + 1] == 0x0A else { return nil }
            out += bytes[index..<(index + size)]
            index += size + 2
        }
    }

    static func parseHex(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard let nibble = hexDigitValue(digit) else { return nil }
            value = value << 4 | UInt64(nibble)
        }
        return value <= UInt64(Int.max) ? Int(value) : nil
    }
}
