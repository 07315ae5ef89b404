/// The `Encoder` that `CompactJSONEncoder` hands a value: each container it gives out writes
/// into a `JSONNode`, keys in snake_case and a nil optional as `null`.
struct JSONNodeEncoder: Encoder {
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
