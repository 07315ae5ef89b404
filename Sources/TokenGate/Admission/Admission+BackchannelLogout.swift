import NIOCore
import NIOHTTP1

// OpenID Connect Back-Channel Logout 1.0: the provider POSTs a logout token to
// `PATH_PREFIX/backchannel-logout`; the gateway reads the body itself (`.requestBody`),
// has the control plane check the token and end the sessions it names
// (`.backchannelLogout`), and answers the provider.
extension Admission {
    /// A request to the back-channel logout endpoint: only a POST, whose body is read first.
    mutating func backchannelLogout(_ request: LoginRequest) -> Step {
        guard request.method == .POST else {
            return .refuse(GatewayAnswer(
                .methodNotAllowed, detail: "back-channel logout takes a POST", route: route.name, headers: [("Allow", "POST")]
            ))
        }
        return wait(for: .requestBody(limit: Self.logoutBodyLimit), then: .requestBody)
    }

    /// The logout request's body arrived (at most `logoutBodyLimit` bytes: the connection
    /// refused anything larger): its `logout_token`, to be checked.
    mutating func logoutBodyArrived(_ body: ByteBuffer?) -> Step {
        guard let profile = route.login else { return Self.unexpected(route) }
        let form = body.map { String(buffer: $0) } ?? ""
        let token = form.split(separator: "&").first { $0.hasPrefix("logout_token=") }.flatMap { FormEncoding.decode($0.dropFirst("logout_token=".count)) }
        guard let token, !token.isEmpty else {
            return .refuse(GatewayAnswer(.invalidRequest, detail: "the form has no logout_token", route: route.name))
        }
        return wait(for: .backchannelLogout(profile, token: token), then: .backchannelLogout)
    }

    /// The token was checked: the provider gets its 200 (a success, which the access log
    /// records as no error), or learns why the token was refused.
    func logoutChecked(_ outcome: LoginProfile.BackchannelOutcome) -> Step {
        switch outcome {
        case .checked(.success(let ended)):
            return .refuse(GatewayAnswer(
                .loggedOut, detail: "the sessions the logout token names are ended (\(ended) kinds of match)", route: route.name
            ))
        case .checked(.failure(let refusal)):
            return .refuse(GatewayAnswer(
                .invalidRequest, detail: "the logout token was refused: \(refusal.description)", route: route.name
            ))
        case .unavailable(let reason):
            return .refuse(reason.answer(route: route.name))
        }
    }
}
