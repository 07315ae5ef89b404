// Browser login on a login route: the gateway's own endpoints under the profile's path
// prefix (callback, login, logout, back-channel logout), public paths, the session check
// and its refresh, and the answer to a request without a session (401 to a script, a
// redirect to the provider for a page load).
extension Admission {
    /// Admission on a login route.
    mutating func admitLogin(_ profile: LoginProfile, _ request: LoginRequest, clock: inout AdmissionClock, tokenKeys: inout TokenKeyMemo) -> Step {
        if request.path.hasPrefix(profile.config.pathPrefix) {
            let action = request.path.dropFirst(profile.config.pathPrefix.count)
            switch action {
            case "callback": return callback(profile, request, clock: &clock)
            case "login": return beginLogin(profile, request, returnTo: request.parameter("return_to") ?? "/", clock: &clock)
            case "logout": return logout(profile, request, clock: &clock)
            case "backchannel-logout": return backchannelLogout(request)
            default: return .refuse(GatewayAnswer(.notFound, detail: "no such login endpoint", route: route.name))
            }
        }
        if request.hasBearer, route.validation != nil, route.config.bearerToken == .validate {
            return admitBearer(clock: &clock, tokenKeys: &tokenKeys)
        }
        // Whole segments, as routing matches `path_prefix`: "/health" is not "/healthz-admin".
        if route.config.publicPaths.contains(where: { RequestPath.isUnder(request.path, prefix: $0) }) {
            return authorize(clock: &clock)
        }
        let now = clock.now()
        switch profile.findSession(in: request.cookies, now: now) {
        case .none:
            return unauthenticated(profile, request, clock: &clock)
        case .stored(let id):
            return wait(for: .sharedSession(profile, id: id), then: .sharedSession(id: id, then: .admit))
        case .found(let session):
            return admitSession(profile, request, session: session, now: now, clock: &clock)
        }
    }

    /// A request with a live session: served, or first refreshed when its access token is due.
    private mutating func admitSession(_ profile: LoginProfile, _ request: LoginRequest, session: LoginSession, now: Int, clock: inout AdmissionClock) -> Step {
        guard profile.needsRefresh(session, now: now) else {
            return serve(profile, request, session: session, now: now, clock: &clock)
        }
        return wait(for: .sessionRefresh(profile, session), then: .sessionRefresh(old: session))
    }

    /// A shared session was read from the fleet's store: go on with it, or without one. A
    /// store that cannot be read is answered 503 (a page for a page load), never with a
    /// login that would only loop; a logout then ends the session by its id.
    mutating func sessionRead(_ read: FleetStore.SessionRead, id: String, then next: AfterSessionRead, clock: inout AdmissionClock) -> Step {
        guard let profile = route.login, let request = login else { return Self.unexpected(route) }
        let now = clock.now()
        let session: LoginSession?
        switch read {
        case .found(let found): session = profile.checked(found, now: now)
        case .absent: session = nil
        case .unavailable:
            guard case .logout = next else {
                return .refuse(LoginProfile.storeUnavailable(route: route.name, page: !request.isAPICall))
            }
            profile.end(id: id, now: now)
            session = nil
        }
        switch next {
        case .admit:
            guard let session else { return unauthenticated(profile, request, clock: &clock) }
            return admitSession(profile, request, session: session, now: now, clock: &clock)
        case .logout:
            return logout(profile, request, session: session, clock: &clock)
        }
    }

    /// A refresh settled: go on with the new session, or the old one while its token is
    /// still good, or treat the request as having no session.
    mutating func refreshed(_ result: LoginProfile.RefreshResult, old: LoginSession, clock: inout AdmissionClock) -> Step {
        guard let profile = route.login, let request = login else { return Self.unexpected(route) }
        let now = clock.now()
        switch result {
        case .refreshed(let session):
            return serve(profile, request, session: session, now: now, reseal: true, clock: &clock)
        case .unavailable where (old.accessTokenExpiresAt ?? 0) > now, .storeUnavailable where (old.accessTokenExpiresAt ?? 0) > now:
            return serve(profile, request, session: old, now: now, clock: &clock)
        case .storeUnavailable:
            return .refuse(LoginProfile.storeUnavailable(route: route.name, page: !request.isAPICall))
        case .unavailable, .ended:
            return unauthenticated(profile, request, clock: &clock)
        }
    }

    /// Admits with the session's identity. The idle timeout counts from the last request:
    /// the session is sealed again with the new time at most once a minute (or when it
    /// changed), so most requests cost no sealing.
    private mutating func serve(
        _ profile: LoginProfile, _ request: LoginRequest, session: LoginSession, now: Int, reseal: Bool = false, clock: inout AdmissionClock
    ) -> Step {
        var session = session
        var identity: [(name: String, value: String)] = []
        for (header, claim) in profile.config.identityHeaders {
            // A second guard: the callback refuses a login whose mapped claims a header
            // cannot carry (`LoginProfile.makeSession`), so this leaves out only what a
            // session from before that check holds, never shortening it into another name
            // (`ali\rce` is not `alice`).
            if let value = session.claims[claim], InboundPolicy.isHeaderSafe(value) { identity.append((header, value)) }
        }
        if profile.config.passAccessToken, let token = session.accessToken { identity.append((LoginProfileConfig.accessTokenHeader, token)) }
        var responseFields: [(name: String, value: String)] = []
        if reseal || now - session.seenAt >= 60 {
            session.seenAt = now
            responseFields = profile.sessionCookies(session, present: Set(request.cookies.keys), now: now) ?? []
        }
        responseFields += request.legacyDeletions
        return admit(as: Identity(fields: identity, subject: session.subject, clientID: nil), responseFields: responseFields, clock: &clock)
    }

    /// No session: a script gets 401 (it cannot follow a login page), a page load goes to
    /// the provider, as the route's `unauthenticated` says.
    private mutating func unauthenticated(_ profile: LoginProfile, _ request: LoginRequest, clock: inout AdmissionClock) -> Step {
        let redirect: Bool
        switch route.config.unauthenticated {
        case .redirect: redirect = true
        case .unauthorized: redirect = false
        case .auto: redirect = !request.isAPICall
        }
        guard redirect else {
            let loginURL = profile.config.pathPrefix + "login?return_to=" + FormEncoding.escape(request.target)
            return .refuse(GatewayAnswer(
                .loginRequired, route: route.name, fields: [("login_url", loginURL)],
                headers: [("WWW-Authenticate", InboundPolicy.challenge(route.validation?.rules.realm ?? "tokengate", error: nil, scope: nil))]
                    + request.legacyDeletions
            ))
        }
        return beginLogin(profile, request, returnTo: request.target, clock: &clock)
    }

    /// Sends the browser to the provider: a new `state`, `nonce` and PKCE verifier sealed in
    /// a state cookie of their own (parallel tabs each have theirs; the oldest beyond
    /// `maxAttempts` are dropped).
    private mutating func beginLogin(_ profile: LoginProfile, _ request: LoginRequest, returnTo: String, clock: inout AdmissionClock) -> Step {
        guard let endpoint = profile.authorizationEndpoint else {
            // Just started: wait (within the admission deadline) for the provider's metadata.
            return wait(for: .providerMetadata(profile), then: .providerMetadata(returnTo: returnTo))
        }
        let now = clock.now()
        let attempt = LoginAttempt(
            state: LoginCookies.random(), nonce: LoginCookies.random(), verifier: LoginCookies.random(),
            returnTo: LoginAttempt.returnTarget(returnTo, allowedOrigins: profile.config.allowedRedirectOrigins),
            redirectURI: request.base + profile.config.pathPrefix + "callback", createdAt: now
        )
        let name = profile.cookies.stateCookie(for: attempt.state)
        guard let sealed = profile.sealer.seal(attempt.encoded(), cookieName: name) else {
            return .refuse(LoginUnavailable.noCookieKey.answer(route: route.name))
        }
        var cookies = Self.expiredAttempts(profile, request, now: now)
        cookies.append(profile.cookies.setCookie(name, sealed, maxAge: LoginAttempt.lifetime))
        let parameters: [(String, String)] = [
            ("response_type", "code"), ("client_id", profile.config.clientID), ("redirect_uri", attempt.redirectURI),
            ("scope", profile.config.scopes.joined(separator: " ")), ("state", attempt.state), ("nonce", attempt.nonce),
            ("code_challenge", LoginCookies.challenge(attempt.verifier)), ("code_challenge_method", "S256"),
        ]
        let separator = endpoint.path.contains("?") ? "&" : "?"
        profile.metrics.started()
        return finishLogin(.redirect(location: endpoint.description + separator + FormEncoding.encode(parameters), cookies: cookies))
    }

    /// The wait for the provider's metadata ended: start the login, or say it cannot start.
    mutating func metadataSettled(waited: Bool, returnTo: String, clock: inout AdmissionClock) -> Step {
        guard let profile = route.login, let request = login else { return Self.unexpected(route) }
        guard profile.authorizationEndpoint != nil else {
            let reason: LoginUnavailable = waited ? .metadataMissing : .metadataPending
            return .refuse(reason.answer(route: route.name))
        }
        return beginLogin(profile, request, returnTo: returnTo, clock: &clock)
    }

    /// Deletions for state cookies past their time or beyond the most a browser keeps.
    private static func expiredAttempts(_ profile: LoginProfile, _ request: LoginRequest, now: Int) -> [(name: String, value: String)] {
        var attempts: [(name: String, createdAt: Int)] = []
        for (name, value) in request.cookies where name.hasPrefix(profile.cookies.statePrefix) {
            let created = profile.sealer.open(value, cookieName: name).flatMap(LoginAttempt.decode)?.createdAt ?? Int.min
            attempts.append((name, created))
        }
        attempts.sort { $0.createdAt > $1.createdAt }
        var deletions: [(name: String, value: String)] = []
        for (index, attempt) in attempts.enumerated() where index >= LoginCookies.maxAttempts - 1 || attempt.createdAt + LoginAttempt.lifetime <= now {
            deletions.append(profile.cookies.delete(attempt.name))
        }
        return deletions
    }

    /// The provider sent the browser back: check the state against its cookie, then have
    /// the control plane exchange the code and check the ID token (`.codeExchange`).
    private mutating func callback(_ profile: LoginProfile, _ request: LoginRequest, clock: inout AdmissionClock) -> Step {
        let now = clock.now()
        let state = request.parameter("state") ?? ""
        let stateName = profile.cookies.stateCookie(for: state)
        let attempt = request.cookies[stateName].flatMap { profile.sealer.open($0, cookieName: stateName) }.flatMap(LoginAttempt.decode)
        guard let attempt, !state.isEmpty, attempt.state == state, now < attempt.createdAt + LoginAttempt.lifetime else {
            profile.metrics.completed("state_invalid")
            // A stale or replayed callback while logged in (a second tab, the back button)
            // is no error: go on to the site.
            if profile.findSession(in: request.cookies, now: now) != .none {
                return finishLogin(.redirect(location: "/", cookies: []))
            }
            return .refuse(GatewayAnswer(
                .loginStateInvalid, route: route.name, fields: [("login_url", profile.config.pathPrefix + "login")]
            ))
        }
        let clearState = profile.cookies.delete(stateName)
        if let error = request.parameter("error") {
            profile.metrics.completed("provider_error")
            let code = error.utf8.count <= 64 && error.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") }) ? error : "error"
            return .refuse(GatewayAnswer(
                .loginRefused, detail: "the login provider refused the login (\(code))", route: route.name,
                headers: [("Set-Cookie", clearState.value)]
            ))
        }
        // RFC 9207: an `iss` that is not our provider means a mix-up attack.
        if let issuer = request.parameter("iss"), issuer != profile.config.issuer {
            profile.metrics.completed("state_invalid")
            return .refuse(GatewayAnswer(.loginStateInvalid, detail: "the callback names another issuer", route: route.name))
        }
        guard let code = request.parameter("code"), !code.isEmpty else {
            return .refuse(GatewayAnswer(.invalidRequest, detail: "the callback has no code", route: route.name))
        }
        let exchange = LoginProfile.CodeExchange(code: code, attempt: attempt, present: Set(request.cookies.keys), route: route.name)
        return wait(for: .codeExchange(profile, exchange), then: .codeExchange(clearState: clearState))
    }

    /// The code exchange ended: the redirect into the site (the state cookie deleted), or
    /// the refusal.
    func codeExchanged(_ outcome: LoginOutcome, clearState: (name: String, value: String)) -> Step {
        switch outcome {
        case .redirect(let location, var cookies):
            cookies.append(clearState)
            return finishLogin(.redirect(location: location, cookies: cookies))
        case .refuse(let answer):
            return .refuse(answer)
        }
    }

    /// Ends the session here (and at the provider when it offers RP-initiated logout).
    /// A request another site's page sent (`LoginRequest.isCrossSite`) ends nothing: it gets
    /// a confirmation page whose button posts the logout back from this site.
    private mutating func logout(_ profile: LoginProfile, _ request: LoginRequest, clock: inout AdmissionClock) -> Step {
        if request.isCrossSite {
            let returnTo = request.parameter("return_to").flatMap { RedirectTarget.validate($0, allowedOrigins: profile.config.allowedRedirectOrigins) }
            return .refuse(LogoutConfirmation.answer(action: profile.config.pathPrefix + "logout", returnTo: returnTo, route: route.name))
        }
        switch profile.findSession(in: request.cookies, now: clock.now()) {
        case .found(let session): return logout(profile, request, session: session, clock: &clock)
        case .none: return logout(profile, request, session: nil, clock: &clock)
        case .stored(let id): return wait(for: .sharedSession(profile, id: id), then: .sharedSession(id: id, then: .logout))
        }
    }

    /// Ends `session` (when the request had one) and sends the browser on.
    private func logout(_ profile: LoginProfile, _ request: LoginRequest, session: LoginSession?, clock: inout AdmissionClock) -> Step {
        let now = clock.now()
        if let session { profile.end(session, now: now) }
        let cookies = profile.cookies.deleteAll(present: Set(request.cookies.keys))
        let after = request.parameter("return_to").flatMap { RedirectTarget.validate($0, allowedOrigins: profile.config.allowedRedirectOrigins) }
            ?? profile.config.postLogoutRedirect
        if let endSession = profile.endSessionEndpoint, let idToken = session?.idToken {
            let absolute = after.hasPrefix("/") ? request.base + after : after
            profile.metrics.logout("provider")
            return finishLogin(.redirect(location: profile.endSessionLocation(endSession, idToken: idToken, postLogout: absolute), cookies: cookies))
        }
        profile.metrics.logout("local")
        return finishLogin(.redirect(location: after, cookies: cookies))
    }

    /// A login step's answer: a 302 with its cookies (and deletions for cookies of names
    /// before the profile tag the request carried), or the refusal. A redirect is a
    /// success: sent as the gateway's own answer, not logged as an error.
    func finishLogin(_ outcome: LoginOutcome) -> Step {
        switch outcome {
        case .redirect(let location, let cookies):
            return .refuse(GatewayAnswer(
                .loginRedirect, route: route.name,
                headers: [("Location", location)] + cookies + (login?.legacyDeletions ?? [])
            ))
        case .refuse(let answer):
            return .refuse(answer)
        }
    }
}
