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

/// One JSON value while it is being encoded. A reference, because a container is created
/// before the values it holds are encoded into it.
private final class JSONNode {
    enum Kind { case null, literal, string, array, object }

    private(set) var kind = Kind.null
    /// The text of a literal (a number, `true`, `false`) or of a string (unescaped).
    private var text = ""
    private(set) var items: [JSONNode] = []
    private var fields: [(key: String, node: JSONNode)] = []

    func setNull() { kind = .null }

    func set(_ value: Bool) {
        kind = .literal
        text = value ? "true" : "false"
    }

    func set(_ value: String) {
        kind = .string
        text = value
    }

    func set(integer value: some BinaryInteger) {
        kind = .literal
        text = String(value)
    }

    func set(float value: some BinaryFloatingPoint & CustomStringConvertible) {
        guard value.isFinite else { return setNull() }
        kind = .literal
        text = value.description
    }

    /// Makes this an object (keeping its fields if it is one already).
    func makeObject() {
        if kind != .object {
            kind = .object
            fields = []
        }
    }

    /// Makes this an array (keeping its items if it is one already).
    func makeArray() {
        if kind != .array {
            kind = .array
            items = []
        }
    }

    /// A new field of this object, after the ones already there.
    func field(_ key: String) -> JSONNode {
        makeObject()
        let node = JSONNode()
        fields.append((key, node))
        return node
    }

    /// A new item at the end of this array.
    func appendItem() -> JSONNode {
        makeArray()
        let node = JSONNode()
        items.append(node)
        return node
    }

    func write(into out: inout String) {
        switch kind {
        case .null:
            out += "null"
        case .literal:
            out += text
        case .string:
            out += JSONText.quote(text)
        case .array:
            out += "["
            for (position, item) in items.enumerated() {
                if position > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object:
            out += "{"
            for (position, field) in fields.enumerated() {
                if position > 0 { out += "," }
                out += JSONText.quote(field.key)
                out += ":"
                field.node.write(into: &out)
            }
            out += "}"
        }
    }
}

private struct JSONNodeEncoder: Encoder {
    let node: JSONNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(JSONKeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return JSONUnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        JSONSingleValueContainer(node: node, codingPath: codingPath)
    }
}

private struct JSONKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: JSONNode
    let codingPath: [any CodingKey]

    private func child(_ key: Key) -> JSONNode {
        node.field(CompactJSONEncoder.snakeCase(key.stringValue))
    }

    private func encoder(_ key: Key) -> JSONNodeEncoder {
        var path = codingPath
        path.append(key)
        return JSONNodeEncoder(node: child(key), codingPath: path)
    }

    mutating func encodeNil(forKey key: Key) throws { child(key).setNull() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { child(key).set(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { child(key).set(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { child(key).set(float: value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { child(key).set(float: value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { child(key).set(integer: value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try value.encode(to: encoder(key)) }

    // A nil optional is written as `null`; the protocol's default leaves the key out.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOrNull(value, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try encodeOrNull(value, key) }

    private mutating func encodeOrNull<T: Encodable>(_ value: T?, _ key: Key) throws {
        if let value {
            try encode(value, forKey: key)
        } else {
            try encodeNil(forKey: key)
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        encoder(key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        encoder(key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        JSONNodeEncoder(node: node.field("super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        encoder(key)
    }
}

private struct JSONUnkeyedContainer: UnkeyedEncodingContainer {
    let node: JSONNode
    let codingPath: [any CodingKey]

    var count: Int { node.items.count }

    private func next() -> JSONNode { node.appendItem() }

    mutating func encodeNil() throws { next().setNull() }
    mutating func encode(_ value: Bool) throws { next().set(value) }
    mutating func encode(_ value: String) throws { next().set(value) }
    mutating func encode(_ value: Double) throws { next().set(float: value) }
    mutating func encode(_ value: Float) throws { next().set(float: value) }
    mutating func encode(_ value: Int) throws { next().set(integer: value) }
    mutating func encode(_ value: Int8) throws { next().set(integer: value) }
    mutating func encode(_ value: Int16) throws { next().set(integer: value) }
    mutating func encode(_ value: Int32) throws { next().set(integer: value) }
    mutating func encode(_ value: Int64) throws { next().set(integer: value) }
    mutating func encode(_ value: UInt) throws { next().set(integer: value) }
    mutating func encode(_ value: UInt8) throws { next().set(integer: value) }
    mutating func encode(_ value: UInt16) throws { next().set(integer: value) }
    mutating func encode(_ value: UInt32) throws { next().set(integer: value) }
    mutating func encode(_ value: UInt64) throws { next().set(integer: value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try value.encode(to: JSONNodeEncoder(node: next(), codingPath: codingPath)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        JSONNodeEncoder(node: next(), codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        JSONNodeEncoder(node: next(), codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        JSONNodeEncoder(node: next(), codingPath: codingPath)
    }
}

private struct JSONSingleValueContainer: SingleValueEncodingContainer {
    let node: JSONNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.setNull() }
    mutating func encode(_ value: Bool) throws { node.set(value) }
    mutating func encode(_ value: String) throws { node.set(value) }
    mutating func encode(_ value: Double) throws { node.set(float: value) }
    mutating func encode(_ value: Float) throws { node.set(float: value) }
    mutating func encode(_ value: Int) throws { node.set(integer: value) }
    mutating func encode(_ value: Int8) throws { node.set(integer: value) }
    mutating func encode(_ value: Int16) throws { node.set(integer: value) }
    mutating func encode(_ value: Int32) throws { node.set(integer: value) }
    mutating func encode(_ value: Int64) throws { node.set(integer: value) }
    mutating func encode(_ value: UInt) throws { node.set(integer: value) }
    mutating func encode(_ value: UInt8) throws { node.set(integer: value) }
    mutating func encode(_ value: UInt16) throws { node.set(integer: value) }
    mutating func encode(_ value: UInt32) throws { node.set(integer: value) }
    mutating func encode(_ value: UInt64) throws { node.set(integer: value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try value.encode(to: JSONNodeEncoder(node: node, codingPath: codingPath)) }
}
