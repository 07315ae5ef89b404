import NIOHTTP1

/// The callback's off-loop half: the code exchange (PKCE verifier, client
/// authentication) and the ID token check (the provider's keys through the JWT machinery,
/// then `nonce` and `azp`), ending in a new session.
extension LoginProfile {
    func complete(code: String, attempt: LoginAttempt, present: Set<String>, route: String) async -> LoginOutcome {
        /// Counts the callback's `outcome` and refuses with `answer`.
        func refuse(_ outcome: String, _ answer: GatewayAnswer) -> LoginOutcome {
            metrics.completed(outcome)
            return .refuse(answer)
        }
        func failed(_ outcome: String, _ detail: String) -> LoginOutcome {
            refuse(outcome, GatewayAnswer(.loginFailed, detail: detail, route: route))
        }
        guard let (client, resolver) = attached, let endpoint = tokenEndpoint else {
            return refuse("exchange_failed", LoginUnavailable.tokenEndpointUnknown.answer(route: route))
        }
        let form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", attempt.redirectURI), ("code_verifier", attempt.verifier)]
        guard let post = tokenRequest(form, endpoint: endpoint, resolver: resolver) else {
            return refuse("exchange_failed", LoginUnavailable.clientSecretUnreadable.answer(route: route))
        }
        let issued: IssuedToken
        switch await client.send(post, timeout: config.timeout, caFile: config.caFile) {
        case .success(let value): issued = value
        case .failure(let error): return failed("exchange_failed", "the code exchange failed: \(error.detail)")
        }
        guard let idToken = issued.idToken?.revealed else {
            return failed("id_token_invalid", "the token endpoint sent no ID token (is the openid scope allowed?)")
        }
        let claims: IntrospectionClaims
        switch await checkIDToken(idToken, nonce: attempt.nonce) {
        case .success(let value): claims = value
        case .failure(let reason): return failed("id_token_invalid", "the ID token was refused: \(reason.description)")
        }
        let now = WallClock.secondsSinceEpoch()
        let session: LoginSession
        switch makeSession(claims: claims, issued: issued, idToken: idToken, now: now) {
        case .success(let value): session = value
        case .failure(let refusal): return failed("id_token_invalid", "the ID token was refused: \(refusal.detail)")
        }
        if sharesSessions, !(await storeShared(session)) {
            metrics.completed("exchange_failed")
            return .refuse(Self.storeUnavailable(route: route, page: true))
        }
        guard let cookies = sessionCookies(session, present: present, now: now) else {
            return refuse("exchange_failed", GatewayAnswer(
                .sessionTooLarge, detail: "the session does not fit in \(LoginCookies.maxChunks) cookies", route: route
            ))
        }
        metrics.completed("success")
        return .redirect(location: RedirectTarget.validate(attempt.returnTo, allowedOrigins: config.allowedRedirectOrigins) ?? "/", cookies: cookies)
    }

    /// OpenID Connect Core §3.1.3.7: signature, `iss`, `aud` contains the client id, `exp`,
    /// `iat` (the JWT profile's checks), then `nonce` equal to the attempt's, and `azp` the
    /// client id when present (required with several audiences).
    func checkIDToken(_ token: String, nonce: String) async -> Result<IntrospectionClaims, JWTAccessTokenRules.Refusal> {
        guard case .success(let jwt) = CompactJWT.parse(token), idTokens.isFromIssuer(jwt) else {
            return .failure(.init("it is not a JWT from the provider"))
        }
        switch await providerSigned(jwt, token: token) {
        case .answer(let claims):
            guard claims.other["nonce"] == nonce else { return .failure(.init("its nonce is not this login's")) }
            if let party = claims.other["azp"], party != config.clientID { return .failure(.init("it was issued to another client (azp)")) }
            if claims.audiences.count > 1 && claims.other["azp"] == nil { return .failure(.init("it has several audiences and no azp")) }
            return .success(claims)
        case .refused(let reason): return .failure(.init(reason))
        case .failed(let error): return .failure(.init(error.description))
        case .pending: return .failure(.init("the provider's keys are not available"))
        }
    }

    /// A token request to the provider with this client's authentication (its secret, or
    /// `client_id` alone for a public client); nil when the secret cannot be read.
    func tokenRequest(_ form: [(String, String)], endpoint: UpstreamURL, resolver: SecretResolver) -> FormPost? {
        guard let reference = config.clientSecret else { return FormPost(url: endpoint, form: form, publicClientID: config.clientID) }
        guard let secret = try? resolver.resolve(reference) else { return nil }
        return FormPost(url: endpoint, form: form, clientID: config.clientID, secret: secret, method: config.authMethod)
    }

    /// The JWT profile's verdict on a token from the provider (signature, `iss`, `aud`,
    /// times), waiting for one key set refetch when its `kid` is new.
    func providerSigned(_ jwt: CompactJWT, token: String) async -> JWTProfile.Lookup {
        await withCheckedContinuation { continuation in
            let result = idTokens.validate(jwt, token: token, key: TokenCacheKey(token: token), waiter: { continuation.resume(returning: $0) })
            if case .pending = result { return }
            continuation.resume(returning: result)
        }
    }
}
