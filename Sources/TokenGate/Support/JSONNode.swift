/// One JSON value while it is being encoded. A reference, because a container is created
/// before the values it holds are encoded into it.
final class JSONNode {
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
