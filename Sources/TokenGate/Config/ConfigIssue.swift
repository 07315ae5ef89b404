/// One problem found in a configuration: where it is and what is wrong, in a sentence
/// that never contains a secret value.
public struct ConfigIssue: Sendable, Hashable, CustomStringConvertible {
    enum Severity: String, Sendable { case error, warning }

    var severity: Severity
    public var path: ConfigPath
    public var message: String

    init(_ severity: Severity, _ path: ConfigPath, _ message: String) {
        self.severity = severity
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
