import NIOCore
import NIOHTTP1

// Browser login on a login route: the gateway's own endpoints under the profile's path
// prefix (callback, login, logout), public paths, the session check, and the answer to a
// request without a session (401 to a script, a redirect to the provider for a page load).
extension ProxyHandler {
    /// Admission on a login route.
    func admitLogin(_ exchange: Exchange, login: LoginProfile, request: LoginRequest) {
        let route = exchange.plan.route
        if request.path.hasPrefix(login.config.pathPrefix) {
            let action = request.path.dropFirst(login.config.pathPrefix.count)
            switch action {
            case "callback": callback(exchange, login: login, request: request)
            case "login": beginLogin(exchange, login: login, request: request, returnTo: request.parameter("return_to") ?? "/")
            case "logout": logout(exchange, login: login, request: request)
            case "backchannel-logout": backchannelLogout(exchange, login: login)
            default:
                refuseExchange(GatewayAnswer(.notFound, detail: "no such login endpoint", route: route.name))
            }
            return
        }
        if request.hasBearer, route.validation != nil, route.config.bearerToken == .validate {
            admitBearer(exchange)
            return
        }
        // Whole segments, as routing matches `path_prefix`: "/health" is not "/healthz-admin".
        if route.config.publicPaths.contains(where: { RequestPath.isUnder(request.path, prefix: $0) }) {
            authorize(exchange)
            return
        }
        let now = WallClock.secondsSinceEpoch()
        guard let session = login.session(in: request.cookies, now: now) else {
            unauthenticated(exchange, login: login, request: request)
            return
        }
        guard login.needsRefresh(session, now: now) else {
            serve(exchange, login: login, request: request, session: session, now: now)
            return
        }
        guard let waiter = waiter(for: exchange, settled: { (handler: ProxyHandler, result: LoginProfile.RefreshResult, exchange: Exchange) in
            handler.refreshed(result, old: session, exchange: exchange, login: login, request: request)
        }) else { return }
        switch login.refresh(session, waiter: waiter) {
        case .result(let result): refreshed(result, old: session, exchange: exchange, login: login, request: request)
        case .pending: armTimer()
        }
    }

    /// A refresh settled: go on with the new session, or the old one while its token is
    /// still good, or treat the request as having no session.
    private func refreshed(_ result: LoginProfile.RefreshResult, old: LoginSession, exchange: Exchange, login: LoginProfile, request: LoginRequest) {
        guard isAdmitting(exchange) else { return }
        let now = WallClock.secondsSinceEpoch()
        switch result {
        case .refreshed(let session):
            serve(exchange, login: login, request: request, session: session, now: now, reseal: true)
        case .unavailable where (old.accessTokenExpiresAt ?? 0) > now:
            serve(exchange, login: login, request: request, session: old, now: now)
        case .unavailable, .ended:
            exchange.responseFields = login.cookies.deleteAll(present: Set(request.cookies.keys).filter { $0.hasPrefix(login.cookies.session) })
            unauthenticated(exchange, login: login, request: request)
        }
    }

    /// Forwards with the session's identity. The idle timeout counts from the last request:
    /// the session is sealed again with the new time at most once a minute (or when it
    /// changed), so most requests cost no sealing.
    private func serve(_ exchange: Exchange, login: LoginProfile, request: LoginRequest, session: LoginSession, now: Int, reseal: Bool = false) {
        var session = session
        exchange.subject = session.subject
        var identity: [(name: String, value: String)] = []
        for (header, claim) in login.config.identityHeaders {
            // A second guard: the callback refuses a login whose mapped claims a header
            // cannot carry (`LoginProfile.makeSession`), so this leaves out only what a
            // session from before that check holds, never shortening it into another name
            // (`ali\rce` is not `alice`).
            if let value = session.claims[claim], InboundPolicy.isHeaderSafe(value) { identity.append((header, value)) }
        }
        if login.config.passAccessToken, let token = session.accessToken { identity.append((LoginProfileConfig.accessTokenHeader, token)) }
        exchange.identityFields = identity
        if reseal || now - session.seenAt >= 60 {
            session.seenAt = now
            exchange.responseFields = login.sessionCookies(session, present: Set(request.cookies.keys), now: now) ?? []
        }
        exchange.responseFields += request.legacyDeletions
        authorize(exchange)
    }

    /// No session: a script gets 401 (it cannot follow a login page), a page load goes to
    /// the provider, as the route's `unauthenticated` says.
    private func unauthenticated(_ exchange: Exchange, login: LoginProfile, request: LoginRequest) {
        let route = exchange.plan.route
        let redirect: Bool
        switch route.config.unauthenticated {
        case .redirect: redirect = true
        case .unauthorized: redirect = false
        case .auto: redirect = !request.isAPICall
        }
        guard redirect else {
            let loginURL = login.config.pathPrefix + "login?return_to=" + FormEncoding.escape(request.target)
            refuseExchange(GatewayAnswer(
                .loginRequired, route: route.name, fields: [("login_url", loginURL)],
                headers: [("WWW-Authenticate", InboundPolicy.challenge(route.validation?.rules.realm ?? "tokengate", error: nil, scope: nil))]
                    + request.legacyDeletions
            ))
            return
        }
        beginLogin(exchange, login: login, request: request, returnTo: request.target)
    }

    /// Sends the browser to the provider: a new `state`, `nonce` and PKCE verifier sealed in
    /// a state cookie of their own (parallel tabs each have theirs; the oldest beyond
    /// `maxAttempts` are dropped).
    func beginLogin(_ exchange: Exchange, login: LoginProfile, request: LoginRequest, returnTo: String) {
        let route = exchange.plan.route
        guard let endpoint = login.authorizationEndpoint else {
            // Just started: wait (within the admission deadline) for the provider's metadata.
            if let waiter = waiter(for: exchange, settled: { (handler: ProxyHandler, _: Bool, exchange: Exchange) in
                guard handler.isAdmitting(exchange), login.authorizationEndpoint != nil else {
                    handler.finishLogin(exchange, .refuse(LoginUnavailable.metadataMissing.answer(route: exchange.plan.route.name)))
                    return
                }
                handler.beginLogin(exchange, login: login, request: request, returnTo: returnTo)
            }), login.idTokens.whenFirstFetchSettles({ waiter(true) }) {
                armTimer()
                return
            }
            if login.authorizationEndpoint != nil {
                // The first fetch settled between the two looks.
                beginLogin(exchange, login: login, request: request, returnTo: returnTo)
                return
            }
            refuseExchange(LoginUnavailable.metadataPending.answer(route: route.name))
            return
        }
        let now = WallClock.secondsSinceEpoch()
        let attempt = LoginAttempt(
            state: LoginCookies.random(), nonce: LoginCookies.random(), verifier: LoginCookies.random(),
            returnTo: LoginAttempt.returnTarget(returnTo, allowedOrigins: login.config.allowedRedirectOrigins),
            redirectURI: request.base + login.config.pathPrefix + "callback", createdAt: now
        )
        let name = login.cookies.stateCookie(for: attempt.state)
        guard let sealed = login.sealer.seal(attempt.encoded(), cookieName: name) else {
            refuseExchange(LoginUnavailable.noCookieKey.answer(route: route.name))
            return
        }
        var cookies = expiredAttempts(login: login, request: request, now: now)
        cookies.append(login.cookies.setCookie(name, sealed, maxAge: LoginAttempt.lifetime))
        let parameters: [(String, String)] = [
            ("response_type", "code"), ("client_id", login.config.clientID), ("redirect_uri", attempt.redirectURI),
            ("scope", login.config.scopes.joined(separator: " ")), ("state", attempt.state), ("nonce", attempt.nonce),
            ("code_challenge", LoginCookies.challenge(attempt.verifier)), ("code_challenge_method", "S256"),
        ]
        let separator = endpoint.path.contains("?") ? "&" : "?"
        login.metrics.started()
        finishLogin(exchange, .redirect(location: endpoint.description + separator + FormEncoding.encode(parameters), cookies: cookies))
    }

    /// Deletions for state cookies past their time or beyond the most a browser keeps.
    private func expiredAttempts(login: LoginProfile, request: LoginRequest, now: Int) -> [(name: String, value: String)] {
        var attempts: [(name: String, createdAt: Int)] = []
        for (name, value) in request.cookies where name.hasPrefix(login.cookies.statePrefix) {
            let created = login.sealer.open(value, cookieName: name).flatMap(LoginAttempt.decode)?.createdAt ?? Int.min
            attempts.append((name, created))
        }
        attempts.sort { $0.createdAt > $1.createdAt }
        var deletions: [(name: String, value: String)] = []
        for (index, attempt) in attempts.enumerated() where index >= LoginCookies.maxAttempts - 1 || attempt.createdAt + LoginAttempt.lifetime <= now {
            deletions.append(login.cookies.delete(attempt.name))
        }
        return deletions
    }

    /// The provider sent the browser back: check the state against its cookie, exchange the
    /// code (off the event loop), check the ID token, start a new session.
    private func callback(_ exchange: Exchange, login: LoginProfile, request: LoginRequest) {
        let route = exchange.plan.route
        let now = WallClock.secondsSinceEpoch()
        let state = request.parameter("state") ?? ""
        let stateName = login.cookies.stateCookie(for: state)
        let attempt = request.cookies[stateName].flatMap { login.sealer.open($0, cookieName: stateName) }.flatMap(LoginAttempt.decode)
        guard let attempt, !state.isEmpty, attempt.state == state, now < attempt.createdAt + LoginAttempt.lifetime else {
            login.metrics.completed("state_invalid")
            // A stale or replayed callback while logged in (a second tab, the back button)
            // is no error: go on to the site.
            if login.session(in: request.cookies, now: now) != nil {
                finishLogin(exchange, .redirect(location: "/", cookies: []))
                return
            }
            refuseExchange(GatewayAnswer(
                .loginStateInvalid, route: route.name, fields: [("login_url", login.config.pathPrefix + "login")]
            ))
            return
        }
        let clearState = login.cookies.delete(stateName)
        if let error = request.parameter("error") {
            login.metrics.completed("provider_error")
            let code = error.utf8.count <= 64 && error.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") }) ? error : "error"
            refuseExchange(GatewayAnswer(
                .loginRefused, detail: "the login provider refused the login (\(code))", route: route.name,
                headers: [("Set-Cookie", clearState.value)]
            ))
            return
        }
        // RFC 9207: an `iss` that is not our provider means a mix-up attack.
        if let issuer = request.parameter("iss"), issuer != login.config.issuer {
            login.metrics.completed("state_invalid")
            refuseExchange(GatewayAnswer(.loginStateInvalid, detail: "the callback names another issuer", route: route.name))
            return
        }
        guard let code = request.parameter("code"), !code.isEmpty else {
            refuseExchange(GatewayAnswer(.invalidRequest, detail: "the callback has no code", route: route.name))
            return
        }
        guard let waiter = waiter(for: exchange, settled: { $0.finishLogin($2, $1) }) else { return }
        let present = Set(request.cookies.keys)
        Task {
            var outcome = await login.complete(code: code, attempt: attempt, present: present, route: route.name)
            if case .redirect(let location, var cookies) = outcome {
                cookies.append(clearState)
                outcome = .redirect(location: location, cookies: cookies)
            }
            waiter(outcome)
        }
        armTimer()
    }

    /// Ends the session here (and at the provider when it offers RP-initiated logout).
    /// A request another site's page sent (`LoginRequest.isCrossSite`) ends nothing: it gets
    /// a confirmation page whose button posts the logout back from this site.
    private func logout(_ exchange: Exchange, login: LoginProfile, request: LoginRequest) {
        if request.isCrossSite {
            let returnTo = request.parameter("return_to").flatMap { RedirectTarget.validate($0, allowedOrigins: login.config.allowedRedirectOrigins) }
            refuseExchange(LogoutConfirmation.answer(
                action: login.config.pathPrefix + "logout", returnTo: returnTo, route: exchange.plan.route.name
            ))
            return
        }
        let now = WallClock.secondsSinceEpoch()
        let session = login.session(in: request.cookies, now: now)
        if let session { login.end(session, now: now) }
        let cookies = login.cookies.deleteAll(present: Set(request.cookies.keys))
        let after = request.parameter("return_to").flatMap { RedirectTarget.validate($0, allowedOrigins: login.config.allowedRedirectOrigins) }
            ?? login.config.postLogoutRedirect
        if let endSession = login.endSessionEndpoint, let idToken = session?.idToken {
            let absolute = after.hasPrefix("/") ? request.base + after : after
            login.metrics.logout("provider")
            finishLogin(exchange, .redirect(location: login.endSessionLocation(endSession, idToken: idToken, postLogout: absolute), cookies: cookies))
        } else {
            login.metrics.logout("local")
            finishLogin(exchange, .redirect(location: after, cookies: cookies))
        }
    }

    /// Answers a login step: a 302 with its cookies (and deletions for cookies of names
    /// before the profile tag the request carried), or the refusal.
    func finishLogin(_ exchange: Exchange, _ outcome: LoginOutcome) {
        guard isAdmitting(exchange) else { return }
        switch outcome {
        case .redirect(let location, let cookies):
            // A success: sent as the gateway's own answer, not logged as an error.
            refuseExchange(GatewayAnswer(
                .loginRedirect, route: exchange.plan.route.name,
                headers: [("Location", location)] + cookies + (exchange.plan.login?.legacyDeletions ?? [])
            ))
        case .refuse(let answer):
            refuseExchange(answer)
        }
    }
}
