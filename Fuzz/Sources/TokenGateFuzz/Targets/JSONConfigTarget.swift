@testable import TokenGate

/// `gateway.json`: the JSON parser, then decoding and validation, through
/// `ConfigLoader.load(bytes:)` as `tokengate check`, `run` and reloads use it.
///
/// Secrets resolve from `Fixture.environment` and one fake secret file; `fileExists`
/// knows one CA path. Nothing reads the file system or the process environment, whatever
/// paths an input names.
///
/// Invariants: a document that parses writes out (`JSONWriter`) and parses back equal,
/// each string re-quoted by `JSONText.quote` parses back to itself; a syntax error has
/// a position; a loaded file's version is its fingerprint and its path prefixes are
/// normalised; no error or warning repeats a resolved secret.
enum JSONConfigTarget {
    static let loader = ConfigLoader(resolver: Fixture.resolver, fileExists: { $0 == Fixture.caFilePath })

    static func run(_ bytes: [UInt8]) {
        let strings = checkJSON(bytes)
        let issues: [ConfigIssue]
        do {
            let loaded = try loader.load(bytes: bytes, source: "fuzz")
            invariant(loaded.version == ConfigLoader.fingerprint(bytes), "a loaded file's version is not its fingerprint")
            for route in loaded.config.routes {
                let prefix = route.pathPrefix
                invariant(
                    RequestPath.normalize(prefix).map { $0 == prefix || $0 + "/" == prefix } == true,
                    "a loaded route's path_prefix is not a normalised path"
                )
                invariant(!route.name.isEmpty && !route.listener.isEmpty, "a loaded route has no name or listener")
                invariant(loaded.config.listener(named: route.listener) != nil, "a loaded route names a listener that does not exist")
            }
            issues = loaded.warnings
        } catch {
            invariant(!error.issues.isEmpty, "a refused file has no error")
            issues = error.issues + error.warnings
        }
        // A message may repeat what the file says, but never what a secret reference
        // resolved to (unless the file itself holds that text, raw or escaped).
        let text = String(decoding: bytes, as: UTF8.self)
        for secret in Fixture.secretValues where !text.contains(secret) && !strings.contains(where: { $0.contains(secret) }) {
            for issue in issues {
                invariant(!issue.description.contains(secret), "a configuration message shows a resolved secret")
            }
        }
    }

    /// The JSON round trips; the document's strings (keys included), none for a syntax error.
    static func checkJSON(_ bytes: [UInt8]) -> [String] {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            invariant(error.line >= 1 && error.column >= 1, "a JSON syntax error without a position")
            return []
        }
        let written = JSONWriter.text(document)
        guard let again = try? JSONParser.parse(Array(written.utf8)) else {
            invariant(false, "a parsed document, written out again, does not parse")
            return []
        }
        invariant(again == document, "a parsed document, written out and parsed again, differs")
        var strings: [String] = []
        JSONWriter.strings(document, into: &strings)
        for string in strings.prefix(256) {
            let quoted = JSONText.quote(string)
            invariant((try? JSONParser.parse(Array(quoted.utf8))) == .string(string), "JSONText.quote does not parse back to the same string")
        }
        return strings
    }
}
