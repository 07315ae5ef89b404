/// Thrown when a configuration cannot be used: every error found, not just the first.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The errors, in document order.
    public var issues: [ConfigIssue]
    /// Warnings found along the way (never a reason to refuse the configuration).
    public var warnings: [ConfigIssue]
    /// Which file, when it came from one.
    var source: String?

    public var description: String {
        let header = "\(source ?? "configuration"): \(issues.count) error\(issues.count == 1 ? "" : "s")"
        return ([header] + issues.map { "  \($0)" }).joined(separator: "\n")
    }
}
