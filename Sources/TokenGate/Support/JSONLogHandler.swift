#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// Writes one JSON object per log line — what log collectors expect when TokenGate runs
/// in a container: `{"ts":"…","level":"info","label":"tokengate","msg":"…", …metadata}`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let sink: @Sendable (String) -> Void

    /// `sink` receives each finished line including its newline; default standard error.
    public init(label: String, sink: @escaping @Sendable (String) -> Void = JSONLogHandler.writeToStandardError) {
        self.label = label
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "{\"ts\":\(JSONText.quote(Self.timestamp())),\"level\":\(JSONText.quote(event.level.rawValue))"
        line += ",\"label\":\(JSONText.quote(label)),\"msg\":\(JSONText.quote(event.message.description))"
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() {
            guard let value = merged[key], key != "ts", key != "level", key != "msg", key != "label" else { continue }
            line += ",\(JSONText.quote(key)):\(JSONText.quote(value.description))"
        }
        line += "}\n"
        sink(line)
    }

    public static let writeToStandardError: @Sendable (String) -> Void = { line in
        FileDescriptorOutput.write(line, to: 2)
    }

    /// Now, as RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return timestamp(epochSeconds: Int(spec.tv_sec), milliseconds: Int(spec.tv_nsec / 1_000_000))
    }

    /// A time in seconds since the epoch as RFC 3339 UTC with milliseconds.
    static func timestamp(epochSeconds: Int, milliseconds: Int = 0) -> String {
        var seconds = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }
}
