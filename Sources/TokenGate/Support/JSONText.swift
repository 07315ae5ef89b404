/// JSON string quoting for the few bodies the gateway writes by hand; the escaping is
/// the access log's (`LogLineBuilder.quoted`), so there is one JSON escaper.
enum JSONText {
    static func quote(_ text: String) -> String {
        LogLineBuilder.string(capacity: LogLineBuilder.bound(text)) { $0.quoted(text) }
    }
}
