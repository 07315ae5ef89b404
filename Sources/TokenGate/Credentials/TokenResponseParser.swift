/// Reads token endpoint responses (RFC 6749 §5.1 success, §5.2 errors).
enum TokenResponseParser {
    /// The largest response body read from a token endpoint.
    static let maxBodyBytes = 64 * 1024
    /// The longest access token accepted (it is sent in a header).
    static let maxTokenBytes = 16 * 1024
    /// `expires_in` is clamped to this range: a shorter lifetime would make the refresh
    /// spin, a longer one is no lifetime at all.
    static let lifetimeRange = Duration.seconds(1)...Duration.seconds(365 * 24 * 3600)

    /// A lifetime from `expires_in` seconds, clamped to `lifetimeRange`; nil when the number
    /// is not finite. Zero and negative values clamp to the floor (already expired, but the
    /// refresh schedule must not spin).
    static func lifetime(_ seconds: Double) -> Duration? {
        guard seconds.isFinite else { return nil }
        // Finite and clamped, so no conversion below can trap.
        return .seconds(min(max(seconds, 1), 365 * 24 * 3600))
    }

    static func parse(status: Int, retryAfter: String?, body: [UInt8]) -> Result<IssuedToken, CredentialError> {
        let delay = retryAfter.flatMap { Int($0.trimmingCharacters(in: " ")) }.map { Duration.seconds(max(0, $0)) }
        switch status {
        case 200:
            return parseSuccess(body)
        case 429:
            return .failure(CredentialError(kind: .rateLimited, detail: "token endpoint answered 429 (rate limited)", retryAfter: delay))
        case 500...599:
            return .failure(CredentialError(kind: .serverError(status: status), detail: "token endpoint answered \(status)", retryAfter: delay))
        case 400...499:
            if let code = oauthErrorCode(body) {
                return .failure(CredentialError(kind: .oauth(code: code, status: status), detail: "token endpoint answered \(status) \(code)", retryAfter: delay))
            }
            return .failure(CredentialError(kind: .unexpectedStatus(status), detail: "token endpoint answered \(status) without an OAuth error", retryAfter: delay))
        default:
            return .failure(CredentialError(kind: .unexpectedStatus(status), detail: "token endpoint answered \(status)\(300..<400 ~= status ? " (redirects are not followed)" : "")"))
        }
    }

    private static func parseSuccess(_ body: [UInt8]) -> Result<IssuedToken, CredentialError> {
        let malformed = { (why: String) in
            Result<IssuedToken, CredentialError>.failure(CredentialError(kind: .malformedResponse, detail: "token endpoint response \(why)"))
        }
        guard let document = try? JSONParser.parse(body), case .object(let members) = document else {
            return malformed("is not a JSON object")
        }
        func value(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value }
        guard case .string(let token)? = value("access_token"), !token.isEmpty else {
            return malformed("has no access_token")
        }
        // The token goes into a header: only RFC 6750 b64token characters, of a sane size.
        guard token.utf8.count <= Self.maxTokenBytes, BearerCredential.isB64Token(token) else {
            return malformed("has an access_token that is not a valid bearer token (RFC 6750 b64token, at most \(Self.maxTokenBytes) bytes)")
        }
        guard case .string(let type)? = value("token_type") else {
            return malformed("has no token_type")
        }
        guard type.lowercased() == "bearer" else {
            return .failure(CredentialError(kind: .unsupportedTokenType, detail: "token endpoint issued a token of type \"\(type.prefix(32))\"; only Bearer tokens can be injected"))
        }
        var expiresIn: Duration?
        switch value("expires_in") {
        case .number(let seconds)?:
            guard let lifetime = Self.lifetime(seconds) else { return malformed("has an expires_in that is not a finite number of seconds") }
            expiresIn = lifetime
        case .string(let text)?:
            // Some servers send the number as a string.
            guard let seconds = Double(text), let lifetime = Self.lifetime(seconds) else {
                return malformed("has an expires_in that is not a finite number of seconds")
            }
            expiresIn = lifetime
        case nil, .null?:
            break
        default:
            return malformed("has an expires_in that is not a number")
        }
        var refresh: Redacted?
        if case .string(let text)? = value("refresh_token"), !text.isEmpty { refresh = Redacted(text) }
        var scope: String?
        if case .string(let text)? = value("scope") { scope = text }
        var issued = IssuedToken(accessToken: Redacted(token), expiresIn: expiresIn, refreshToken: refresh, scope: scope, tokenType: type)
        if case .string(let text)? = value("id_token"), !text.isEmpty, text.utf8.count <= Self.maxTokenBytes { issued.idToken = Redacted(text) }
        return .success(issued)
    }

    /// The `error` member of an RFC 6749 §5.2 body, if it is one (codes are short ASCII tokens).
    static func oauthErrorCode(_ body: [UInt8]) -> String? {
        guard let document = try? JSONParser.parse(body), case .object(let members) = document,
              case .string(let code)? = members.first(where: { $0.key == "error" })?.value,
              !code.isEmpty, code.count <= 64, code.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0 != "\"" && $0 != "\\" }) else {
            return nil
        }
        return code
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view = view.dropFirst() }
        while let last = view.last, set.contains(last) { view = view.dropLast() }
        return String(view)
    }
}
