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
