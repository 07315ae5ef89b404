/// Writes an `Encodable` value as one line of compact JSON, for the admin listener's
/// documents (`GatewayStatusDocument`).
///
/// What it writes, and why not Foundation's `JSONEncoder`, which orders object keys by
/// hash and leaves nil optionals out, so `/status` would change shape from one answer to
/// the next:
/// - object keys in the order the value encodes them (a synthesized `encode(to:)` follows
///   the declaration order);
/// - property names in snake_case (`configVersion` as `config_version`), the inverse of
///   `JSONDecoder`'s `.convertFromSnakeCase`, which reads them back;
/// - a nil optional as `null`, so every key is always there;
/// - strings escaped as every JSON line of the gateway is (`JSONText.quote`), numbers as
///   Swift prints them (`0.75`, `1.0`), and a non-finite number as `null`.
enum CompactJSONEncoder {
    static func encode(_ value: some Encodable) throws -> String {
        let root = JSONNode()
        try value.encode(to: JSONNodeEncoder(node: root, codingPath: []))
        var text = ""
        root.write(into: &text)
        return text
    }

    /// `configVersion` → `config_version`.
    static func snakeCase(_ key: String) -> String {
        var out = ""
        for character in key {
            if character.isUppercase {
                out.append("_")
                out.append(contentsOf: character.lowercased())
            } else {
                out.append(character)
            }
        }
        return out
    }
}
