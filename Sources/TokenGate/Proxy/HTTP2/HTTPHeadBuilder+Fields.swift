import NIOCore
import NIOHTTP1

extension HTTPHeadBuilder {
    /// The fields of the head built so far (after its start line), for a client that takes
    /// them as fields rather than bytes (an HTTP/2 stream). Every field was checked on the
    /// way in, so each line is `name: value` with no CR or LF inside.
    var fieldsWritten: HTTPHeaders {
        var fields = HTTPHeaders()
        buffer.withUnsafeReadableBytes { bytes in
            var at = 0
            // Skip the start line.
            while at + 1 < bytes.count, !(bytes[at] == UInt8(ascii: "\r") && bytes[at + 1] == UInt8(ascii: "\n")) { at += 1 }
            at += 2
            while at + 1 < bytes.count {
                let start = at
                while at + 1 < bytes.count, !(bytes[at] == UInt8(ascii: "\r") && bytes[at + 1] == UInt8(ascii: "\n")) { at += 1 }
                let line = UnsafeRawBufferPointer(rebasing: bytes[start..<min(at, bytes.count)])
                at += 2
                if line.isEmpty { break }
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
                var valueStart = colon + 1
                while valueStart < line.count, line[valueStart] == UInt8(ascii: " ") || line[valueStart] == UInt8(ascii: "\t") { valueStart += 1 }
                fields.add(
                    name: String(decoding: UnsafeRawBufferPointer(rebasing: line[..<colon]), as: UTF8.self),
                    value: String(decoding: UnsafeRawBufferPointer(rebasing: line[valueStart...]), as: UTF8.self)
                )
            }
        }
        return fields
    }
}
