/// An answer the sandbox sends.
struct SandboxResponse {
    var status: Int
    var headers: [(String, String)] = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    var body: String
    /// Reset the connection instead of answering.
    var reset = false
    /// Wait this long before answering.
    var delay: Duration?

    static func json(_ status: Int, _ object: [String: Any]) -> SandboxResponse {
        SandboxResponse(status: status, body: encode(object))
    }

    /// Sorted-key JSON for the sandbox's flat answers (strings, booleans, integers).
    static func encode(_ object: [String: Any]) -> String {
        let fields = object.keys.sorted().map { key -> String in
            let value: String
            switch object[key] {
            case let text as String: value = quote(text)
            case let flag as Bool: value = flag ? "true" : "false"
            case let number as Int: value = String(number)
            case let number as Double: value = String(number)
            case let texts as [String]: value = "[" + texts.map(quote).joined(separator: ",") + "]"
            case let nested as [String: Any]: value = encode(nested)
            default: value = "null"
            }
            return quote(key) + ":" + value
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func oauthError(_ code: String, status: Int = 400, description: String? = nil) -> SandboxResponse {
        var object: [String: Any] = ["error": code]
        if let description { object["error_description"] = description }
        return json(status, object)
    }
}

/// JSON string quoting.
func quote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
