#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
/// A small POSIX file reader (Foundation-free, so the library has no hidden I/O layer).
enum FileReader {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func readAll(path: String, limit: Int) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(description: String(cString: strerror(errno)))
            }
            if count == 0 { return result }
            result.append(contentsOf: buffer[..<count])
            if result.count > limit { throw Failure(description: "larger than \(limit) bytes") }
        }
    }
}
