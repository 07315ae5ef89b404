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

/// The closest known key to a misspelt one, if any is close enough to be a likely typo.
func suggestion(for key: String, among candidates: [String]) -> String? {
    let lowered = key.lowercased()
    var best: (name: String, distance: Int)?
    for candidate in candidates {
        let distance = editDistance(lowered, candidate.lowercased())
        if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
    }
    guard let best else { return nil }
    let allowed = max(2, key.count / 3)
    return best.distance <= allowed ? best.name : nil
}

/// Levenshtein distance between two strings, by Unicode scalar.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.unicodeScalars)
    let b = Array(b.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
