/// A location in `gateway.json`, rendered the way operators read it:
/// `routes[0].match.path_prefix`, `credentials.billing-api.client_secret`.
public struct ConfigPath: Sendable, Hashable, CustomStringConvertible {
    enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    var components: [Component]

    static let root = ConfigPath(components: [])

    func key(_ name: String) -> ConfigPath { ConfigPath(components: components + [.key(name)]) }
    func index(_ position: Int) -> ConfigPath { ConfigPath(components: components + [.index(position)]) }

    public var description: String {
        if components.isEmpty { return "(document)" }
        var text = ""
        for component in components {
            switch component {
            case .index(let position):
                text += "[\(position)]"
            case .key(let name):
                let plain = !name.isEmpty && name.utf8.allSatisfy { byte in
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                        || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                        || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                        || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                }
                if plain {
                    text += text.isEmpty ? name : ".\(name)"
                } else {
                    text += "[\"\(name)\"]"
                }
            }
        }
        return text
    }
}

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
