#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered writes of whole lines to standard output or standard error: short writes and
/// interruptions are retried; a closed stream is given up on silently (a log line is never
/// worth a crash).
public enum FileDescriptorOutput {
    public static func write(_ bytes: [UInt8], to fd: Int32) {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let written = systemWrite(fd, base + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }

    public static func write(_ text: String, to fd: Int32) {
        write(Array(text.utf8), to: fd)
    }
}

/// The C `write`, which the methods above shadow.
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}
