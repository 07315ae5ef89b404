/// One JSON object being decoded, with typed accessors that report problems by path.
struct ConfigObject {
    let members: [(key: String, value: JSONValue)]
    let path: ConfigPath
    let diagnostics: ConfigDiagnostics

    subscript(key: String) -> JSONValue? {
        guard let value = members.first(where: { $0.key == key })?.value else { return nil }
        if case .null = value { return nil }
        return value
    }

    func contains(_ key: String) -> Bool { self[key] != nil }

    func missing(_ key: String) {
        diagnostics.error(path.key(key), "required key is missing")
    }

    func string(_ key: String, required: Bool = false) -> String? {
        guard let value = self[key] else {
            if required { missing(key) }
            return nil
        }
        guard case .string(let text) = value else {
            diagnostics.error(path.key(key), "expected a string, got \(value.typeName)")
            return nil
        }
        if text.isEmpty {
            diagnostics.error(path.key(key), "must not be empty")
            return nil
        }
        return text
    }

    func bool(_ key: String, default fallback: Bool) -> Bool {
        guard let value = self[key] else { return fallback }
        guard case .bool(let flag) = value else {
            diagnostics.error(path.key(key), "expected true or false, got \(value.typeName)")
            return fallback
        }
        return flag
    }

    func number(_ key: String) -> Double? {
        guard let value = self[key] else { return nil }
        guard case .number(let number) = value else {
            diagnostics.error(path.key(key), "expected a number, got \(value.typeName)")
            return nil
        }
        return number
    }

    /// A whole number within `range`.
    func integer(_ key: String, default fallback: Int, in range: ClosedRange<Int>) -> Int {
        guard let number = number(key) else { return fallback }
        guard number == number.rounded(), number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
            diagnostics.error(path.key(key), "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return fallback
        }
        return Int(number)
    }

    /// A number of seconds (fractions allowed) from 1 ms (`0.001`) to `maximum`, kept at
    /// millisecond precision. Every duration of the configuration is read here. The floor is
    /// 1 ms, not "greater than 0": `1e-7` would round to a zero timeout, which expires at
    /// once (no key reads 0 as "off"; the schema says `minimum: 0.001` to match).
    func seconds(_ key: String, default fallback: Duration, maximum: Double = 86_400) -> Duration {
        guard let number = number(key) else { return fallback }
        guard number >= 0.001, number <= maximum else {
            diagnostics.error(path.key(key), "must be a number of seconds from 0.001 (1 ms) to \(Int(maximum))")
            return fallback
        }
        return .milliseconds(Int64((number * 1000).rounded()))
    }

    func stringArray(_ key: String) -> [String]? {
        guard let value = self[key] else { return nil }
        guard case .array(let elements) = value else {
            diagnostics.error(path.key(key), "expected an array of strings, got \(value.typeName)")
            return nil
        }
        var strings: [String] = []
        for (position, element) in elements.enumerated() {
            guard case .string(let text) = element, !text.isEmpty else {
                diagnostics.error(path.key(key).index(position), "expected a non-empty string, got \(element.typeName)")
                continue
            }
            strings.append(text)
        }
        return strings
    }

    func object(_ key: String, keys: [String], required: Bool = false) -> ConfigObject? {
        guard let value = self[key] else {
            if required { missing(key) }
            return nil
        }
        return diagnostics.object(value, at: path.key(key), keys: keys)
    }

    /// The members of a JSON object used as a map of names to things.
    func map(_ key: String) -> [(key: String, value: JSONValue)]? {
        guard let value = self[key] else { return nil }
        guard case .object(let members) = value else {
            diagnostics.error(path.key(key), "expected an object, got \(value.typeName)")
            return nil
        }
        return members
    }

    /// A map of string keys to string values (extra form parameters, header maps).
    func stringMap(_ key: String) -> [(key: String, value: String)]? {
        guard let members = map(key) else { return nil }
        var result: [(key: String, value: String)] = []
        for member in members {
            guard case .string(let text) = member.value else {
                diagnostics.error(path.key(key).key(member.key), "expected a string, got \(member.value.typeName)")
                continue
            }
            result.append((member.key, text))
        }
        return result
    }

    func secret(_ key: String, required: Bool = false) -> SecretReference? {
        guard let value = self[key] else {
            if required { missing(key) }
            return nil
        }
        let at = path.key(key)
        switch value {
        case .string(let inline):
            guard !inline.isEmpty else {
                diagnostics.error(at, "must not be empty")
                return nil
            }
            diagnostics.warning(at, "secret is written inline; use {\"env\": NAME} or {\"file\": PATH} outside development")
            return .inline(Redacted(inline))
        case .object:
            guard let reference = diagnostics.object(value, at: at, keys: ["env", "file"]) else { return nil }
            let env = reference.string("env")
            let file = reference.string("file")
            switch (env, file) {
            case let (env?, nil): return .environment(env)
            case let (nil, file?): return .file(file)
            case (.some, .some):
                diagnostics.error(at, "give either \"env\" or \"file\", not both")
            case (nil, nil):
                if reference.members.isEmpty {
                    diagnostics.error(at, "expected {\"env\": NAME} or {\"file\": PATH}")
                }
            }
            return nil
        default:
            diagnostics.error(at, "expected a string, {\"env\": NAME} or {\"file\": PATH}, got \(value.typeName)")
            return nil
        }
    }
}
