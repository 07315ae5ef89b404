/// Collects configuration problems while a document is decoded, so one pass reports all
/// of them. Decoding code asks it for typed values at a path; a missing or mistyped value
/// is recorded and `nil` returned, and decoding goes on.
final class ConfigDiagnostics {
    private(set) var issues: [ConfigIssue] = []

    func error(_ path: ConfigPath, _ message: String) {
        issues.append(ConfigIssue(.error, path, message))
    }

    func warning(_ path: ConfigPath, _ message: String) {
        issues.append(ConfigIssue(.warning, path, message))
    }

    var errors: [ConfigIssue] { issues.filter { $0.severity == .error } }
    var warnings: [ConfigIssue] { issues.filter { $0.severity == .warning } }

    /// Views `value` as an object whose keys must all be in `keys`; unknown keys are
    /// reported with the closest known key as a suggestion.
    func object(_ value: JSONValue, at path: ConfigPath, keys: [String]) -> ConfigObject? {
        guard case .object(let members) = value else {
            error(path, "expected an object, got \(value.typeName)")
            return nil
        }
        for member in members where !keys.contains(member.key) {
            if let near = suggestion(for: member.key, among: keys) {
                error(path.key(member.key), "unknown key, did you mean \"\(near)\"?")
            } else {
                error(path.key(member.key), "unknown key (expected one of: \(keys.joined(separator: ", ")))")
            }
        }
        return ConfigObject(members: members, path: path, diagnostics: self)
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
