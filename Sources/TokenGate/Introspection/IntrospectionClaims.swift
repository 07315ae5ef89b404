/// An RFC 7662 introspection answer: what the cache holds (the answer, never a decision,
/// so each route's policy is evaluated on every request).
///
/// The claims sit in one immutable box: a cache hit hands out a copy on every request
/// (from the cache, into admission's rules), and a copy of a dozen strings, lists and a
/// dictionary is two dozen reference-count operations, where the box's is one. A setter
/// (the parser's, the JWT rules') writes a new box; claims are set when an answer is
/// parsed, never on a request.
struct IntrospectionClaims: Sendable {
    /// The claims themselves.
    struct Fields: Sendable {
        var active: Bool
        var scope: String? {
            didSet { scopeList = scope?.split(separator: " ").map(String.init) ?? [] }
        }
        /// `scope` split once, when the answer is parsed, not on every request.
        fileprivate(set) var scopeList: [String] = []
        var clientID: String?
        var username: String?
        var subject: String?
        /// `exp`, seconds since the epoch.
        var expiresAt: Int?
        /// `nbf`, seconds since the epoch: not to be accepted before.
        var notBefore: Int?
        /// `token_type` as the server reported it, when it did.
        var tokenType: String?
        var issuer: String?
        var audiences: [String]
        /// Every other member with a string, number or boolean value, for identity headers.
        var other: [String: String]
        /// Members that are lists of strings `joinedList` cannot join: an element would blur
        /// the joined value (`["staff,admin"]` would read as `["staff", "admin"]`). They are in
        /// no header; a route that maps one to an identity header refuses the token.
        fileprivate(set) var unrepresentable: Set<String> = []
    }

    private final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    private init(_ fields: Fields) {
        box = Box(fields)
    }

    /// Writes `change` into a new box (never into one a copy shares).
    private mutating func update(_ change: (inout Fields) -> Void) {
        var fields = box.fields
        change(&fields)
        box = Box(fields)
    }

    var active: Bool {
        get { box.fields.active }
        set { update { $0.active = newValue } }
    }
    var scope: String? {
        get { box.fields.scope }
        set { update { $0.scope = newValue } }
    }
    /// `scope` split once, when the answer is parsed, not on every request.
    var scopeList: [String] { box.fields.scopeList }
    var clientID: String? {
        get { box.fields.clientID }
        set { update { $0.clientID = newValue } }
    }
    var username: String? {
        get { box.fields.username }
        set { update { $0.username = newValue } }
    }
    var subject: String? {
        get { box.fields.subject }
        set { update { $0.subject = newValue } }
    }
    /// `exp`, seconds since the epoch.
    var expiresAt: Int? {
        get { box.fields.expiresAt }
        set { update { $0.expiresAt = newValue } }
    }
    /// `nbf`, seconds since the epoch: not to be accepted before.
    var notBefore: Int? {
        get { box.fields.notBefore }
        set { update { $0.notBefore = newValue } }
    }
    /// `token_type` as the server reported it, when it did.
    var tokenType: String? {
        get { box.fields.tokenType }
        set { update { $0.tokenType = newValue } }
    }
    var issuer: String? {
        get { box.fields.issuer }
        set { update { $0.issuer = newValue } }
    }
    var audiences: [String] {
        get { box.fields.audiences }
        set { update { $0.audiences = newValue } }
    }
    /// Every other member with a string, number or boolean value, for identity headers.
    var other: [String: String] {
        get { box.fields.other }
        set { update { $0.other = newValue } }
    }
    /// Members that are lists of strings `joinedList` cannot join (`Fields.unrepresentable`).
    var unrepresentable: Set<String> { box.fields.unrepresentable }

    static let inactive = IntrospectionClaims(active: false, audiences: [], other: [:])

    init(active: Bool, scope: String? = nil, clientID: String? = nil, username: String? = nil, subject: String? = nil,
         expiresAt: Int? = nil, issuer: String? = nil, audiences: [String], other: [String: String]) {
        self.init(Fields(
            active: active, scope: scope, scopeList: scope?.split(separator: " ").map(String.init) ?? [],
            clientID: clientID, username: username, subject: subject, expiresAt: expiresAt,
            issuer: issuer, audiences: audiences, other: other
        ))
    }

    /// The value of a claim for an identity header. `sub` falls back to `username`. Nil
    /// when absent or `isUnrepresentable`.
    func value(of claim: String) -> String? {
        switch claim {
        case "sub": return subject ?? username
        case "scope": return scope
        case "client_id": return clientID
        case "username": return username
        case "iss": return issuer
        case "aud": return audiences.isEmpty ? nil : Self.joinedList(audiences, separator: UInt8(ascii: " "))
        case "exp": return expiresAt.map(String.init)
        default: return other[claim]
        }
    }

    /// Whether `claim` is present but is a list no header value can carry faithfully
    /// (`joinedList`), as opposed to absent.
    func isUnrepresentable(_ claim: String) -> Bool {
        claim == "aud" ? !audiences.isEmpty && value(of: claim) == nil : unrepresentable.contains(claim)
    }

    /// What identity header `header` carries for `claim`.
    enum IdentityHeaderValue: Equatable {
        case absent
        case value(String)
        /// The claim is there but no header can carry it faithfully: why (`"groups claim
        /// has an element that …"`), naming the claim and the header, never the value.
        case refused(String)
    }

    /// The value of `claim` for identity header `header`, read once. The one rule for
    /// bearer tokens and login sessions alike, each of which refuses such a token rather
    /// than leave the header out: without it an app might take the caller for one with no
    /// groups or roles, or for an anonymous one; a value with a control character dropped or
    /// cut would be another name (`ali\rce` is not `alice`).
    func identityHeader(_ claim: String, header: String) -> IdentityHeaderValue {
        if let value = value(of: claim) {
            return InboundPolicy.isHeaderSafe(value) ? .value(value) : .refused("\(claim) claim holds a control character, which cannot be passed in \(header)")
        }
        guard isUnrepresentable(claim) else { return .absent }
        return .refused("\(claim) claim has an element that cannot be passed in \(header) (empty, containing the list separator or a control character, or with a space at either end)")
    }

    /// A list claim as one header value: its elements joined by `separator` (`,` for a
    /// list such as `groups` or `roles`; a space for `aud` and `scp`), or nil when an
    /// element could not be told apart in the result: empty, holding the separator or a
    /// control character, or with a space at either end (list parsers trim it). Never
    /// escaped: an app that did not unescape would see a forged element. The one rule for
    /// JWT and introspection claims alike, so `["staff,admin"]` never reaches an app as
    /// `["staff", "admin"]`.
    static func joinedList(_ elements: [String], separator: UInt8) -> String? {
        for element in elements {
            let bytes = element.utf8
            guard let first = bytes.first, let last = bytes.last, first != UInt8(ascii: " "), last != UInt8(ascii: " "),
                  !bytes.contains(where: { $0 == separator || $0 < 0x20 || $0 == 0x7F }) else { return nil }
        }
        return elements.joined(separator: String(Character(Unicode.Scalar(separator))))
    }

    /// Times further than this from now (`exp`, `nbf`, `iat`) make an answer malformed.
    static let timeRange = 100 * 365 * 24 * 3600

    /// A time claim as whole seconds since the epoch; nil when it is not finite or further
    /// than 100 years from `now` (a server answering 1e19 must not crash or fool anyone).
    static func epochSeconds(_ value: Double, now: Int) -> Int? {
        guard value.isFinite, abs(value - Double(now)) <= Double(timeRange) else { return nil }
        return Int(exactly: value.rounded(.down))
    }

    /// `token_type` values that name an access token (RFC 7662 §2.2 uses RFC 6749's types;
    /// RFC 8693 URIs are accepted too). Anything else (`refresh_token`, `id_token`, …) is
    /// not an access token and is refused.
    static func isAccessTokenType(_ type: String) -> Bool {
        type.caseInsensitiveEquals("bearer") || type.caseInsensitiveEquals("access_token")
            || type.caseInsensitiveEquals("urn:ietf:params:oauth:token-type:access_token")
    }

    /// Parses a response body; nil when it is not an RFC 7662 answer (`active` missing) or
    /// a time claim is not a sane number.
    static func parse(_ body: [UInt8], now: Int = WallClock.secondsSinceEpoch()) -> IntrospectionClaims? {
        guard let document = try? JSONParser.parse(body), case .object(let members) = document else { return nil }
        guard case .bool(let active)? = members.first(where: { $0.key == "active" })?.value else { return nil }
        guard active else { return .inactive }
        return claims(of: members, now: now)
    }

    /// The claims of an active token from a JSON object's members (an introspection answer
    /// or a JWT's payload); nil when a time claim is not a sane number.
    static func claims(of members: [(key: String, value: JSONValue)], now: Int) -> IntrospectionClaims? {
        // Built as plain fields, then boxed once.
        var claims = Fields(active: true, audiences: [], other: [:])
        for (key, value) in members {
            switch (key, value) {
            case ("scope", .string(let text)): claims.scope = text
            case ("client_id", .string(let text)): claims.clientID = text
            case ("username", .string(let text)): claims.username = text
            case ("sub", .string(let text)): claims.subject = text
            case ("iss", .string(let text)): claims.issuer = text
            case ("exp", .number(let seconds)):
                guard let value = epochSeconds(seconds, now: now) else { return nil }
                claims.expiresAt = value
            case ("nbf", .number(let seconds)):
                guard let value = epochSeconds(seconds, now: now) else { return nil }
                claims.notBefore = value
            case ("iat", .number(let seconds)):
                guard let value = epochSeconds(seconds, now: now) else { return nil }
                claims.other[key] = String(value)
            case ("exp", _), ("nbf", _), ("iat", _):
                return nil
            case ("token_type", .string(let text)): claims.tokenType = text
            case ("aud", .string(let text)): claims.audiences = [text]
            case ("aud", .array(let items)):
                claims.audiences = items.compactMap { if case .string(let text) = $0 { return text } else { return nil } }
            case ("active", _): break
            case (_, .string(let text)): claims.other[key] = text
            case (_, .number(let number)):
                claims.other[key] = number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
            case (_, .bool(let flag)): claims.other[key] = flag ? "true" : "false"
            case (_, .array(let items)):
                // A list of strings (`groups`, `roles`, `scp`): one comma-separated value, or
                // none when an element would blur it.
                let strings = items.compactMap { item -> String? in if case .string(let text) = item { return text } else { return nil } }
                if strings.isEmpty { break }
                if let joined = joinedList(strings, separator: UInt8(ascii: ",")) {
                    claims.other[key] = joined
                } else {
                    claims.unrepresentable.insert(key)
                }
            default: break
            }
        }
        return IntrospectionClaims(claims)
    }
}
