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
        LogLineBuilder.string(capacity: LogLineBuilder.timestampBound) { $0.timestamp() }
    }

    /// A time in seconds since the epoch as RFC 3339 UTC with milliseconds.
    static func timestamp(epochSeconds: Int, milliseconds: Int = 0) -> String {
        LogLineBuilder.string(capacity: LogLineBuilder.timestampBound) { $0.timestamp(epochSeconds: epochSeconds, milliseconds: milliseconds) }
    }
}
