/// The body of `POST /revoke`: exactly one of `session`, `sid`, `sub` or `token`, an
/// optional `profile` (a login profile's name) and, for a token, an optional
/// `expires_in` (seconds). The token is hashed at once (`FleetRevocation.token`): it is
/// never logged, answered or stored.
struct RevokeRequest: Sendable {
    var kind: FleetRevocation.Kind
    var value: String
    var profile: String?
    var expiresIn: Int?

    static let keys = ["session", "sid", "sub", "token", "profile", "expires_in"]
    /// Request bodies beyond this are refused before parsing.
    static let maxBytes = 8192

    static func parse(_ body: [UInt8]) -> Result<RevokeRequest, RevokeRequestError> {
        guard body.count <= maxBytes else { return .failure(.init("the body is larger than \(maxBytes) bytes")) }
        let document: JSONValue
        do {
            document = try JSONParser.parse(body)
        } catch {
            return .failure(.init("the body is not JSON: \(error)"))
        }
        guard case .object(let members) = document else {
            return .failure(.init("expected a JSON object naming one of session, sid, sub or token"))
        }
        if let unknown = members.first(where: { !keys.contains($0.key) }) {
            return .failure(.init("unknown key \"\(unknown.key.prefix(40))\" (known: \(keys.joined(separator: ", ")))"))
        }
        var named: [(FleetRevocation.Kind, String)] = []
        for kind in [FleetRevocation.Kind.session, .sid, .sub, .token] {
            guard let member = members.first(where: { $0.key == kind.rawValue }) else { continue }
            guard case .string(let value) = member.value, !value.isEmpty, value.utf8.count <= 4096 else {
                return .failure(.init("\(kind.rawValue) must be a non-empty string of at most 4096 bytes"))
            }
            named.append((kind, value))
        }
        guard named.count == 1, let (kind, value) = named.first else {
            return .failure(.init("name exactly one of session, sid, sub or token"))
        }
        var request = RevokeRequest(kind: kind, value: value)
        if let member = members.first(where: { $0.key == "profile" }) {
            guard case .string(let name) = member.value, !name.isEmpty else { return .failure(.init("profile must be a login profile's name")) }
            guard kind != .token else { return .failure(.init("profile applies to sessions, not to tokens")) }
            request.profile = name
        }
        if let member = members.first(where: { $0.key == "expires_in" }) {
            guard kind == .token else { return .failure(.init("expires_in applies to tokens only")) }
            guard case .number(let seconds) = member.value, seconds >= 1, seconds <= Double(Gateway.maxRevocationLifetime), let whole = Int(exactly: seconds) else {
                return .failure(.init("expires_in must be a whole number of seconds from 1 to \(Gateway.maxRevocationLifetime)"))
            }
            request.expiresIn = whole
        }
        return .success(request)
    }

    /// The revocation this asks for. A session, `sid` or `sub` lasts `sessionLifetime`
    /// (every session it could name has ended by then); a token until `expires_in`, else
    /// its JWT `exp`, else `knownExpiry` (what an introspection cache learnt of an opaque
    /// token), else a day. Past the token's expiry no gateway would take it anyway.
    func revocation(now: Int, nowMilliseconds: Int, sessionLifetime: Int, knownExpiry: Int? = nil) -> FleetRevocation {
        let cap = now + Gateway.maxRevocationLifetime
        switch kind {
        case .session:
            return .sessionID(value, profile: profile, at: nowMilliseconds, until: now + sessionLifetime)
        case .sid, .sub:
            return .provider(kind, value, profile: profile, at: nowMilliseconds, until: now + sessionLifetime)
        case .token:
            var until = now + Gateway.defaultRevocationLifetime
            if let expiresIn {
                until = now + expiresIn
            } else if case .success(let jwt) = CompactJWT.parse(value),
                      case .number(let expiry)? = jwt.claims.first(where: { $0.key == "exp" })?.value,
                      expiry.isFinite, expiry > 0, expiry < Double(cap) {
                // Unverified, so only ever a shorter keep within the cap; the clock skew on top.
                until = max(now + 60, Int(expiry) + 300)
            } else if let knownExpiry, knownExpiry < cap {
                until = max(now + 60, knownExpiry + 300)
            }
            return .token(value, at: nowMilliseconds, until: min(until, cap))
        }
    }
}

/// What is wrong with a `POST /revoke` body (never its values).
struct RevokeRequestError: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The answer to `POST /revoke`: what was revoked, until when, and whether the fleet hears of it.
struct RevokeAnswer: Encodable, Sendable {
    var revoked: String
    var profile: String?
    var until: String
    var scope: String
}
