import NIOHTTP1

/// The catalogue of every answer the gateway makes on its own behalf, on the proxy and the
/// admin listener: one case per stable machine code, each with its HTTP status and a
/// default sentence for a person. The raw value is the code on the wire (the JSON body's
/// `error` field) and in the access log; it never changes once published, since clients
/// and dashboards match on it.
///
/// Kept in one place so that a new answer is a new case here (and a row in README's
/// tables, which `AnswerCatalogueTests` checks), never a string literal at a call site.
/// Not every answer is an error: a login's redirect and a logout's confirmation are
/// successes and are not logged as errors (`isError`). Two codes are never sent, only
/// logged, for exchanges the gateway could not answer (`reachesClient`).
enum AnswerCode: String, CaseIterable, Sendable {
    // The request itself (any listener).
    case badRequest = "bad_request"
    case invalidRequest = "invalid_request"
    case noRoute = "no_route"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case bodyTooLarge = "body_too_large"
    case headersTooLarge = "headers_too_large"
    case requestTimeout = "request_timeout"
    case listenerRetired = "listener_retired"
    case misdirectedRequest = "misdirected_request"
    case forbidden = "forbidden"
    // Inbound validation (introspection, JWT).
    case unauthorized = "unauthorized"
    case invalidToken = "invalid_token"
    case insufficientScope = "insufficient_scope"
    case introspectionUnavailable = "introspection_unavailable"
    case jwksUnavailable = "jwks_unavailable"
    // The outbound credential and the admission deadline.
    case credentialUnavailable = "credential_unavailable"
    case admissionTimeout = "admission_timeout"
    // The upstream.
    case upstreamUnreachable = "upstream_unreachable"
    case upstreamConnectTimeout = "upstream_connect_timeout"
    case upstreamError = "upstream_error"
    case upstreamTimeout = "upstream_timeout"
    case internalError = "internal_error"
    // Browser login.
    case loginRequired = "login_required"
    case loginUnavailable = "login_unavailable"
    case loginStateInvalid = "login_state_invalid"
    case loginRefused = "login_refused"
    case loginFailed = "login_failed"
    case sessionTooLarge = "session_too_large"
    case sessionStoreUnavailable = "session_store_unavailable"
    // Browser login: answers that are not errors.
    case loginRedirect = "login_redirect"
    case loggedOut = "logged_out"
    case logoutConfirmation = "logout_confirmation"
    // Logged only: the exchange ended without an answer.
    case clientClosed = "client_closed"
    case tunnelFailed = "tunnel_failed"

    /// The HTTP status the answer carries (for a logged-only code, the status logged).
    var status: HTTPResponseStatus {
        switch self {
        case .badRequest, .invalidRequest, .loginStateInvalid: return .badRequest
        case .unauthorized, .invalidToken, .loginRequired: return .unauthorized
        case .forbidden, .insufficientScope, .loginRefused: return .forbidden
        case .noRoute, .notFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .requestTimeout: return .requestTimeout
        case .bodyTooLarge: return .payloadTooLarge
        case .listenerRetired, .misdirectedRequest: return .misdirectedRequest
        case .headersTooLarge: return .requestHeaderFieldsTooLarge
        case .internalError, .sessionTooLarge: return .internalServerError
        case .upstreamUnreachable, .upstreamError, .loginFailed: return .badGateway
        case .introspectionUnavailable, .jwksUnavailable, .credentialUnavailable, .admissionTimeout, .loginUnavailable, .sessionStoreUnavailable:
            return .serviceUnavailable
        case .upstreamConnectTimeout, .upstreamTimeout: return .gatewayTimeout
        case .loginRedirect: return .found
        case .loggedOut, .logoutConfirmation: return .ok
        // nginx's "client closed request".
        case .clientClosed: return HTTPResponseStatus(statusCode: 499, reasonPhrase: "Client Closed Request")
        // The 101 had gone out when the tunnel could not be joined.
        case .tunnelFailed: return .switchingProtocols
        }
    }

    /// The sentence for a person when the call site has nothing more precise to say.
    /// Written by the gateway; never holds anything from a request or a peer.
    var detail: String {
        switch self {
        case .badRequest: return "malformed HTTP request"
        case .invalidRequest: return "the request lacks a required part or states it wrongly"
        case .noRoute: return "no route matches this request"
        case .notFound: return "no such endpoint"
        case .methodNotAllowed: return "this method is not allowed here"
        case .bodyTooLarge: return "the request body is larger than the route allows"
        case .headersTooLarge: return "request head is larger than the listener allows"
        case .requestTimeout: return "the request head did not arrive in time"
        case .listenerRetired: return "this connection's listener address is no longer configured; connect again"
        case .misdirectedRequest: return "the admin listener answers to IP addresses, localhost and its configured host only"
        case .forbidden: return "this is not accepted from where the request came"
        case .unauthorized: return "a bearer token is required"
        case .invalidToken: return "the token was refused"
        case .insufficientScope: return "the token lacks a required scope"
        case .introspectionUnavailable: return "the token could not be checked right now"
        case .jwksUnavailable: return "the token could not be checked right now (the issuer's keys are not available)"
        case .credentialUnavailable: return "the upstream's credential could not be obtained"
        case .admissionTimeout: return "validating the request or obtaining its credential took too long"
        case .upstreamUnreachable: return "could not connect to the upstream"
        case .upstreamConnectTimeout: return "could not connect to the upstream in time"
        case .upstreamError: return "the upstream's response could not be relayed"
        case .upstreamTimeout: return "the upstream did not answer in time"
        case .internalError: return "the gateway could not handle this request"
        case .loginRequired: return "this page needs a login session; open login_url in a browser"
        case .loginUnavailable: return "the login provider cannot be used right now"
        case .loginStateInvalid: return "this login attempt is unknown or expired (its state cookie is missing); start again"
        case .loginRefused: return "the login provider refused the login"
        case .loginFailed: return "the login could not be completed"
        case .sessionTooLarge: return "the session does not fit in its cookies"
        case .sessionStoreUnavailable: return "the login session cannot be read from the fleet's store right now; you are still logged in, try again shortly"
        case .loginRedirect: return "continue at the Location"
        case .loggedOut: return "the sessions the logout token names are ended"
        case .logoutConfirmation: return "a logout sent by another site's page waits for the user's confirmation"
        case .clientClosed: return "the client closed the connection before the answer"
        case .tunnelFailed: return "the tunnel could not be joined after the upgrade"
        }
    }

    /// False for answers that are successes: they are counted by status like every
    /// answer, but the access log gives them no `error`.
    var isError: Bool {
        switch self {
        case .loginRedirect, .loggedOut, .logoutConfirmation: return false
        default: return true
        }
    }

    /// False for the codes only the access log shows (no answer was sent).
    var reachesClient: Bool {
        switch self {
        case .clientClosed, .tunnelFailed: return false
        default: return true
        }
    }

    /// The access log's `error` field for this code: the code for an error, nothing for a
    /// success.
    var accessLogError: String? {
        isError ? rawValue : nil
    }
}
