/// Why a profile has no token. Its `detail` is safe to show anyone: it names what went
/// wrong (a status, an RFC 6749 error code) and never carries a secret or a token.
struct CredentialError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        /// Could not reach the token endpoint, or the connection broke.
        case network
        case timeout
        /// 5xx, or 429 (`rateLimited`).
        case serverError(status: Int)
        case rateLimited
        /// Not JSON, or JSON without a usable `access_token`.
        case malformedResponse
        /// An RFC 6749 §5.2 error code from the authorization server.
        case oauth(code: String, status: Int)
        /// A `token_type` other than Bearer.
        case unsupportedTokenType
        /// Another status the gateway cannot act on (3xx, 404, …).
        case unexpectedStatus(Int)
        /// The client secret or password could not be read.
        case secretUnavailable
    }

    var kind: Kind
    var detail: String
    /// `Retry-After` from the authorization server, when it sent one.
    var retryAfter: Duration?

    /// Errors that retrying cannot fix until the configuration or a secret changes. They are
    /// still retried with backoff (a rotated secret file is re-read) and logged as
    /// configuration problems.
    var isPermanent: Bool {
        switch kind {
        case .oauth(let code, _):
            return ["invalid_client", "unauthorized_client", "invalid_scope", "unsupported_grant_type", "invalid_request"].contains(code)
        case .unsupportedTokenType, .unexpectedStatus, .secretUnavailable:
            return true
        case .network, .timeout, .serverError, .rateLimited, .malformedResponse:
            return false
        }
    }

    /// Whether the authorization server refused the grant itself: any 4xx answer, with an
    /// RFC 6749 §5.2 error code or without one (some servers answer a dead refresh token
    /// `400` with an empty body), except 408 and 429, which say nothing about the grant.
    /// Sending the same grant again gets the same answer, so a refused refresh token is
    /// given up (`TokenState.fetchFailed`, `LoginProfile.requestRefresh`).
    var isRefusal: Bool {
        switch kind {
        case .oauth(_, let status), .unexpectedStatus(let status):
            return (400...499).contains(status) && status != 408 && status != 429
        case .network, .timeout, .serverError, .rateLimited, .malformedResponse, .unsupportedTokenType, .secretUnavailable:
            return false
        }
    }

    var description: String { detail }
}

extension CredentialError {
    /// What a client may be told: a sentence of the gateway's own, naming what kind of
    /// failure it was. The authorization server's text and file paths stay in `detail`,
    /// which goes to the log only.
    var publicDetail: String {
        switch kind {
        case .network: return "the token endpoint could not be reached"
        case .timeout: return "the token endpoint did not answer in time"
        case .serverError(let status): return "the token endpoint answered \(status)"
        case .rateLimited: return "the token endpoint is rate limiting token requests"
        case .malformedResponse: return "the token endpoint's answer could not be used"
        case .oauth(_, let status): return "the token endpoint refused the token request (\(status))"
        case .unsupportedTokenType: return "the token endpoint issued a token that is not a Bearer token"
        case .unexpectedStatus(let status): return "the token endpoint answered \(status)"
        case .secretUnavailable: return "the profile's secret could not be read"
        }
    }
}

extension CredentialError.Kind {
    /// A fixed word for metrics and status: never the server's own text.
    var label: String {
        switch self {
        case .network: return "network_error"
        case .timeout: return "timeout"
        case .serverError: return "server_error"
        case .rateLimited: return "rate_limited"
        case .malformedResponse: return "malformed_response"
        case .oauth: return "oauth_error"
        case .unsupportedTokenType: return "unsupported_token_type"
        case .unexpectedStatus: return "unexpected_status"
        case .secretUnavailable: return "secret_unavailable"
        }
    }
}

/// An access token as the token endpoint issued it.
struct IssuedToken: Sendable {
    var accessToken: Redacted
    var expiresIn: Duration?
    var refreshToken: Redacted?
    var scope: String?
    var tokenType: String
    /// `id_token` (OpenID Connect), from an authorization code exchange.
    var idToken: Redacted? = nil
}

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
