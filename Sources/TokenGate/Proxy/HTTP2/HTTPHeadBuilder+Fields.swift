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

    /// The request head built so far, for an HTTP/2 upstream stream: its method and target,
    /// and its fields with lower-case names, without the connection-specific ones
    /// (`Connection`, `Keep-Alive`, `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`),
    /// which HTTP/2 forbids. `Host` stays: NIO's codec makes it `:authority`.
    func http2RequestHead(method: HTTPMethod) -> HTTPRequestHead {
        var target = "/"
        buffer.withUnsafeReadableBytes { bytes in
            guard let firstSpace = bytes.firstIndex(of: UInt8(ascii: " ")) else { return }
            var end = firstSpace + 1
            while end < bytes.count, bytes[end] != UInt8(ascii: " "), bytes[end] != UInt8(ascii: "\r") { end += 1 }
            target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(firstSpace + 1)..<end]), as: UTF8.self)
        }
        var fields = HTTPHeaders()
        for (name, value) in fieldsWritten {
            let lower = name.lowercased()
            switch lower {
            case "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection": continue
            default: fields.add(name: lower, value: value)
            }
        }
        return HTTPRequestHead(version: .http2, method: method, uri: target, headers: fields)
    }
}
