/// Why a login cannot go on right now. Every reason is the same answer,
/// `503 login_unavailable`, built here only, so the code, the status and when to send
/// `Retry-After` are decided once for the handler's and the callback's paths alike.
enum LoginUnavailable: Sendable {
    /// The provider's metadata (discovery) has not arrived yet and the request could not
    /// wait for it.
    case metadataPending
    /// The provider's metadata was still missing after the request waited for the first
    /// fetch to settle.
    case metadataMissing
    /// No cookie key could seal the login attempt.
    case noCookieKey
    /// The provider's token endpoint is not known yet (the callback came too early).
    case tokenEndpointUnknown
    /// The login profile's client secret cannot be read.
    case clientSecretUnreadable
    /// The profile's queue of work for the provider is full (`LoginJobQueue`).
    case busy
    /// The profile's control-plane loop has ended (a reload replaced the profile, or the
    /// gateway is stopping).
    case stopped

    /// The answer for a request on `route`. A missing metadata document is expected to
    /// arrive shortly, so those answers say when to try again.
    func answer(route: String) -> GatewayAnswer {
        switch self {
        case .metadataPending:
            return GatewayAnswer(
                .loginUnavailable, detail: "the login provider's metadata is not available yet", route: route, headers: [("Retry-After", "5")]
            )
        case .metadataMissing:
            return GatewayAnswer(
                .loginUnavailable, detail: "the login provider's metadata is not available", route: route, headers: [("Retry-After", "5")]
            )
        case .noCookieKey:
            return GatewayAnswer(.loginUnavailable, detail: "no cookie key could be read", route: route)
        case .tokenEndpointUnknown:
            return GatewayAnswer(.loginUnavailable, detail: "the login provider's token endpoint is not known yet", route: route)
        case .clientSecretUnreadable:
            return GatewayAnswer(.loginUnavailable, detail: "the login profile's client secret cannot be read", route: route)
        case .busy:
            return GatewayAnswer(
                .loginUnavailable, detail: "too many logins are waiting for the login provider", route: route, headers: [("Retry-After", "1")]
            )
        case .stopped:
            return GatewayAnswer(
                .loginUnavailable, detail: "the login profile was reconfigured; retry", route: route, headers: [("Retry-After", "1")]
            )
        }
    }
}
