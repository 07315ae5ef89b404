// The entries of `/status`, read from the running configuration and the live profiles
// (`Gateway.statusDocument` puts them together). Each reads states and counts; a token
// state's values are `Redacted` and are never read here.

extension GatewayStatusDocument.Route {
    init(_ route: RouteConfig) {
        self.init(
            name: route.name, listener: route.listener, pathPrefix: route.pathPrefix, host: route.host,
            upstream: route.upstream.description, credential: route.credential, introspection: route.validate?.introspection,
            jwt: route.validate?.jwt, login: route.login
        )
    }
}

extension GatewayStatusDocument.Credential {
    /// `now` and `wallNow` are the same moment on the monotonic and the wall clock.
    init(_ live: CredentialProfile, now: ContinuousClock.Instant, wallNow: Int) {
        let state = live.state
        let token = state.usableToken(at: now)
        self.init(
            name: live.name,
            grant: live.config.grant.rawValue,
            tokenUrl: live.config.tokenURL.description,
            hasToken: token != nil,
            expiresInSeconds: token.map { Gateway.seconds($0.expiresAt - now) },
            refreshInSeconds: token.map { max(0, Gateway.seconds($0.refreshAt - now)) },
            scope: token?.scope,
            lastRefreshAt: state.lastSuccess.map { JSONLogHandler.timestamp(epochSeconds: wallNow - Gateway.seconds(now - $0)) },
            refreshing: state.fetching,
            consecutiveFailures: state.consecutiveFailures,
            lastError: state.lastError?.detail,
            nextRetryInSeconds: state.retryAt.flatMap { $0 > now ? Gateway.seconds($0 - now) : nil }
        )
    }
}

extension GatewayStatusDocument.Introspection {
    init(_ live: IntrospectionProfile) {
        let stats = live.statistics
        let lookups = stats.hits + stats.misses
        self.init(
            name: live.name,
            url: live.config.url.description,
            cacheEntries: stats.size,
            cacheCapacity: live.config.maxEntries,
            inactiveEntries: stats.inactive,
            inactiveCapacity: live.config.negativeMaxEntries,
            callsInFlight: stats.inFlight,
            maxInFlight: live.config.maxInFlight,
            hits: stats.hits,
            misses: stats.misses,
            evictions: stats.evictions,
            hitRatio: lookups == 0 ? nil : (Double(stats.hits) / Double(lookups) * 1000).rounded() / 1000
        )
    }
}

extension GatewayStatusDocument.JWT {
    init(_ live: JWTProfile) {
        let status = live.status
        self.init(
            name: live.name,
            issuer: live.config.issuer,
            jwksUri: status.jwksURL,
            keys: status.keys.map { Key(kid: $0.id, type: $0.type, algorithms: $0.algorithms) },
            skippedKeys: status.skipped,
            lastFetchAt: status.lastFetch.map { JSONLogHandler.timestamp(epochSeconds: $0.time) },
            lastFetchSucceeded: status.lastFetch?.succeeded,
            lastFetchDetail: status.lastFetch?.detail,
            nextRefreshAt: status.nextRefresh.map { JSONLogHandler.timestamp(epochSeconds: $0) },
            cacheEntries: status.size,
            cacheCapacity: live.config.maxEntries,
            hits: status.hits,
            misses: status.misses
        )
    }
}

extension GatewayStatusDocument.Login {
    init(_ live: LoginProfile) {
        let config = live.config
        self.init(
            name: live.name,
            issuer: config.issuer,
            clientId: config.clientID,
            cookieKeyIds: live.sealer.keys.map(\.id),
            sealingKeyId: live.sealer.sealingKeyID,
            sessionStore: config.sessionStore.rawValue,
            sessionsInMemory: config.sessionStore == .memory ? live.storedSessions : nil,
            authorizationEndpoint: live.authorizationEndpoint?.description,
            endSessionEndpoint: live.endSessionEndpoint?.description,
            providerKeys: live.idTokens.status.keys.count
        )
    }
}
