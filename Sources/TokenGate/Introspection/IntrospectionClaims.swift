/// An RFC 7662 introspection answer: what the cache holds (the answer, never a decision,
/// so each route's policy is evaluated on every request).
struct IntrospectionClaims: Sendable {
    var active: Bool
    var scope: String? {
        didSet { scopeList = scope?.split(separator: " ").map(String.init) ?? [] }
    }
    /// `scope` split once, when the answer is parsed, not on every request.
    private(set) var scopeList: [String] = []
    var clientID: String?
    var username: String?
    var subject: String?
    /// `exp`, seconds since the epoch.
    var expiresAt: Int?
    var issuer: String?
    var audiences: [String]
    /// Every other member with a string, number or boolean value, for identity headers.
    var other: [String: String]

    static let inactive = IntrospectionClaims(active: false, audiences: [], other: [:])

    init(active: Bool, scope: String? = nil, clientID: String? = nil, username: String? = nil, subject: String? = nil,
         expiresAt: Int? = nil, issuer: String? = nil, audiences: [String], other: [String: String]) {
        self.active = active
        self.scope = scope
        self.scopeList = scope?.split(separator: " ").map(String.init) ?? []
        self.clientID = clientID
        self.username = username
        self.subject = subject
        self.expiresAt = expiresAt
        self.issuer = issuer
        self.audiences = audiences
        self.other = other
    }

    /// The value of a claim for an identity header. `sub` falls back to `username`.
    func value(of claim: String) -> String? {
        switch claim {
        case "sub": return subject ?? username
        case "scope": return scope
        case "client_id": return clientID
        case "username": return username
        case "iss": return issuer
        case "aud": return audiences.isEmpty ? nil : audiences.joined(separator: " ")
        case "exp": return expiresAt.map(String.init)
        default: return other[claim]
        }
    }

    /// Parses a response body; nil when it is not an RFC 7662 answer (`active` missing).
    static func parse(_ body: [UInt8]) -> IntrospectionClaims? {
        guard let document = try? JSONParser.parse(body), case .object(let members) = document else { return nil }
        guard case .bool(let active)? = members.first(where: { $0.key == "active" })?.value else { return nil }
        guard active else { return .inactive }
        var claims = IntrospectionClaims(active: true, audiences: [], other: [:])
        for (key, value) in members {
            switch (key, value) {
            case ("scope", .string(let text)): claims.scope = text
            case ("client_id", .string(let text)): claims.clientID = text
            case ("username", .string(let text)): claims.username = text
            case ("sub", .string(let text)): claims.subject = text
            case ("iss", .string(let text)): claims.issuer = text
            case ("exp", .number(let seconds)): claims.expiresAt = Int(seconds)
            case ("aud", .string(let text)): claims.audiences = [text]
            case ("aud", .array(let items)):
                claims.audiences = items.compactMap { if case .string(let text) = $0 { return text } else { return nil } }
            case ("active", _): break
            case (_, .string(let text)): claims.other[key] = text
            case (_, .number(let number)):
                claims.other[key] = number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
            case (_, .bool(let flag)): claims.other[key] = flag ? "true" : "false"
            default: break
            }
        }
        return claims
    }
}
