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
