import Foundation
import Testing
@testable import TokenGate

/// The expected Basic value, computed independently: RFC 6749 §2.3.1 form-encodes id and
/// secret before base64.
private func expectedBasic(_ id: String, _ secret: String) -> String {
    var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._*")
    allowed.insert(charactersIn: "")
    func encode(_ text: String) -> String {
        (text.addingPercentEncoding(withAllowedCharacters: allowed) ?? "").replacingOccurrences(of: "%20", with: "+")
    }
    return "Basic " + Data("\(encode(id)):\(encode(secret))".utf8).base64EncodedString()
}

private func profile(_ json: String) throws -> CredentialProfileConfig {
    let document = """
    { "listeners": { "egress": { "address": "127.0.0.1:8081" } },
      "credentials": { "p": \(json) },
      "routes": [ { "name": "r", "listener": "egress", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:1", "credential": "p" } ] }
    """
    let loaded = try ConfigLoader(resolver: SecretResolver(environment: ["S": "x"])).load(bytes: Array(document.utf8))
    return try #require(loaded.config.credential(named: "p"))
}

@Suite("Token request wire form")
struct TokenRequestWireTests {
    @Test("client credentials with client_secret_basic: reserved characters are form-encoded before base64")
    func clientCredentialsBasic() throws {
        let config = try profile(#"{ "grant": "client_credentials", "token_url": "https://idp.example.com/oauth2/token", "client_id": "svc:1 a+b/é", "client_secret": {"env": "S"}, "scope": "invoices:read invoices:write", "audience": "https://billing.example.com", "resource": "https://billing.example.com/api", "extra_params": { "tenant": "acme co", "b": "2" } }"#)
        let request = TokenRequest.make(.clientCredentials, profile: config, clientSecret: Redacted("p@ss:w/rd+%&="), password: nil, refreshToken: nil)
        #expect(request.url.description == "https://idp.example.com/oauth2/token")
        #expect(request.headers.map(\.name) == ["Content-Type", "Accept", "Authorization"])
        #expect(request.headers[0].value == "application/x-www-form-urlencoded")
        #expect(request.headers[1].value == "application/json")
        #expect(request.headers[2].value == expectedBasic("svc:1 a+b/é", "p@ss:w/rd+%&="))
        #expect(request.headers[2].value == "Basic c3ZjJTNBMSthJTJCYiUyRiVDMyVBOTpwJTQwc3MlM0F3JTJGcmQlMkIlMjUlMjYlM0Q=")
        #expect(request.body == "grant_type=client_credentials&scope=invoices%3Aread+invoices%3Awrite&audience=https%3A%2F%2Fbilling.example.com&resource=https%3A%2F%2Fbilling.example.com%2Fapi&b=2&tenant=acme+co")
    }

    @Test("client_secret_post puts id and secret in the body and sends no Authorization")
    func clientSecretPost() throws {
        let config = try profile(#"{ "grant": "client_credentials", "token_url": "https://idp/t", "client_id": "svc", "client_secret": {"env": "S"}, "auth_method": "client_secret_post" }"#)
        let request = TokenRequest.make(.clientCredentials, profile: config, clientSecret: Redacted("s e+cret"), password: nil, refreshToken: nil)
        #expect(!request.headers.contains { $0.name == "Authorization" })
        #expect(request.body == "grant_type=client_credentials&client_id=svc&client_secret=s+e%2Bcret")
    }

    @Test("password grant and refresh grant send exactly their fields")
    func passwordAndRefresh() throws {
        let config = try profile(#"{ "grant": "password", "token_url": "https://idp/t", "client_id": "crm", "client_secret": {"env": "S"}, "username": "crm sync@corp", "password": {"env": "S"}, "scope": "contacts" }"#)
        let password = TokenRequest.make(.password, profile: config, clientSecret: Redacted("c"), password: Redacted("pa ss&word"), refreshToken: nil)
        #expect(password.body == "grant_type=password&username=crm+sync%40corp&password=pa+ss%26word&scope=contacts")
        #expect(password.headers[2].value == expectedBasic("crm", "c"))
        let refresh = TokenRequest.make(.refresh, profile: config, clientSecret: Redacted("c"), password: Redacted("pa ss&word"), refreshToken: Redacted("r/t+1"))
        #expect(refresh.body == "grant_type=refresh_token&refresh_token=r%2Ft%2B1&scope=contacts")
    }

    @Test("token responses: bearer in any case, expires_in as number or string, errors classified")
    func responses() {
        func parse(_ status: Int, _ body: String, retryAfter: String? = nil) -> Result<IssuedToken, CredentialError> {
            TokenResponseParser.parse(status: status, retryAfter: retryAfter, body: Array(body.utf8))
        }
        guard case .success(let token) = parse(200, #"{"access_token":"abc","token_type":"BEARER","expires_in":"120","scope":"a"}"#) else {
            Issue.record("expected a token")
            return
        }
        #expect(token.accessToken.revealed == "abc")
        #expect(token.expiresIn == .seconds(120))
        guard case .failure(let mac) = parse(200, #"{"access_token":"abc","token_type":"mac"}"#) else { Issue.record("mac accepted"); return }
        #expect(mac.kind == .unsupportedTokenType)
        guard case .failure(let garbled) = parse(200, #"{"access_token": "#) else { Issue.record("garbage accepted"); return }
        #expect(garbled.kind == .malformedResponse)
        guard case .failure(let limited) = parse(429, "", retryAfter: "7") else { Issue.record("429 accepted"); return }
        #expect(limited.kind == .rateLimited)
        #expect(limited.retryAfter == .seconds(7))
        #expect(!limited.isPermanent)
        guard case .failure(let client) = parse(401, #"{"error":"invalid_client","error_description":"nope"}"#) else { Issue.record("401 accepted"); return }
        #expect(client.detail == "token endpoint answered 401 invalid_client")
        #expect(client.isPermanent)
        guard case .failure(let outage) = parse(503, "<html>") else { Issue.record("503 accepted"); return }
        #expect(outage.kind == .serverError(status: 503))
    }
}

@Suite("Token state machine")
struct TokenStateTests {
    private let start = ContinuousClock.now

    private func issued(_ value: String, expiresIn: Duration? = .seconds(100), refresh: String? = nil) -> IssuedToken {
        IssuedToken(accessToken: Redacted(value), expiresIn: expiresIn, refreshToken: refresh.map(Redacted.init), scope: nil, tokenType: "Bearer")
    }

    @Test("refresh is due at 80% of the lifetime; the token is used until it expires")
    func proportionalRefresh() {
        var state = TokenState(grant: .clientCredentials, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        #expect(state.next(at: start) == .fetch(.clientCredentials))
        state.fetchStarted()
        state.fetchSucceeded(issued("t1", expiresIn: .seconds(30)), at: start)
        #expect(state.next(at: start) == .wait(until: start + .seconds(24)))
        #expect(state.usableToken(at: start + .seconds(29))?.headerValue.revealed == "Bearer t1")
        #expect(state.usableToken(at: start + .seconds(30)) == nil)
        #expect(state.next(at: start + .seconds(24)) == .fetch(.clientCredentials))
    }

    @Test("what injection reads agrees with the token: the same values until the same instant, none once dropped")
    func injectedValues() {
        var state = TokenState(grant: .clientCredentials, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        #expect(state.usableValues(at: start) == nil)
        state.fetchSucceeded(issued("t1", expiresIn: .seconds(30)), at: start)
        let last = start + .seconds(30) - .nanoseconds(1)
        #expect(state.usableValues(at: last)?.headerValue.revealed == "Bearer t1")
        #expect(state.usableValues(at: last)?.value.revealed == "t1")
        #expect(state.usableValues(at: start + .seconds(30)) == nil)
        #expect(state.usableToken(at: start + .seconds(30)) == nil)
        state.fetchSucceeded(issued("t2", expiresIn: .seconds(60)), at: start + .seconds(24))
        #expect(state.usableValues(at: start + .seconds(50))?.value.revealed == "t2")
        #expect(state.upstreamRejected(Redacted("t2"), challenge: .invalidToken, at: start + .seconds(50), minInterval: .seconds(10)) == .retry)
        #expect(state.usableValues(at: start + .seconds(50)) == nil, "a token an upstream refused is not injected again")
    }

    @Test("without expires_in the default lifetime applies")
    func defaultLifetime() {
        var state = TokenState(grant: .clientCredentials, refreshFraction: 0.5, defaultLifetime: .seconds(10), headerScheme: "")
        state.fetchSucceeded(issued("t", expiresIn: nil), at: start)
        #expect(state.next(at: start) == .wait(until: start + .seconds(5)))
        #expect(state.usableToken(at: start)?.headerValue.revealed == "t")
    }

    @Test("failures back off exponentially with jitter, honour Retry-After, and keep the valid token")
    func backoff() {
        var state = TokenState(grant: .clientCredentials, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        state.fetchSucceeded(issued("t1"), at: start)
        let outage = CredentialError(kind: .serverError(status: 503), detail: "x")
        let refreshTime = start + .seconds(80)
        state.fetchFailed(outage, kind: .clientCredentials, at: refreshTime, jitter: 1)
        #expect(state.next(at: refreshTime) == .wait(until: refreshTime + .seconds(1)))
        #expect(state.usableToken(at: refreshTime + .seconds(1))?.value.revealed == "t1")
        state.fetchFailed(outage, kind: .clientCredentials, at: refreshTime, jitter: 0)
        #expect(state.next(at: refreshTime) == .wait(until: refreshTime + .seconds(1)))
        state.fetchFailed(outage, kind: .clientCredentials, at: refreshTime, jitter: 1)
        #expect(state.next(at: refreshTime) == .wait(until: refreshTime + .seconds(4)))
        for _ in 0..<10 { state.fetchFailed(outage, kind: .clientCredentials, at: refreshTime, jitter: 1) }
        #expect(state.next(at: refreshTime) == .wait(until: refreshTime + .seconds(60)))
        var limited = CredentialError(kind: .rateLimited, detail: "x")
        limited.retryAfter = .seconds(120)
        state.fetchFailed(limited, kind: .clientCredentials, at: refreshTime, jitter: 0)
        #expect(state.next(at: refreshTime) == .wait(until: refreshTime + .seconds(120)))
        state.fetchSucceeded(issued("t2"), at: refreshTime)
        #expect(state.consecutiveFailures == 0)
    }

    @Test("password grant: refresh token first; invalid_grant on it falls back to the password grant at once")
    func refreshTokenFallback() {
        var state = TokenState(grant: .password, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        #expect(state.next(at: start) == .fetch(.password))
        state.fetchSucceeded(issued("t1", refresh: "r1"), at: start)
        #expect(state.next(at: start + .seconds(80)) == .fetch(.refresh))
        state.fetchFailed(CredentialError(kind: .oauth(code: "invalid_grant", status: 400), detail: "x"), kind: .refresh, at: start + .seconds(80), jitter: 0)
        #expect(state.next(at: start + .seconds(80)) == .fetch(.password))
    }

    @Test(
        "any 4xx to a refresh_token grant drops the refresh token and runs the profile's own grant once, at once; backoff only if that fails too",
        arguments: [(400, ""), (400, #"{"error":"invalid_grant"}"#), (401, #"{"error":"invalid_client"}"#), (403, "<html>forbidden</html>")]
    )
    func anyRefusedRefreshFallsBack(status: Int, body: String) {
        // A server that answers a dead refresh token 400 with an empty body, not invalid_grant.
        guard case .failure(let refusal) = TokenResponseParser.parse(status: status, retryAfter: nil, body: Array(body.utf8)) else {
            Issue.record("a \(status) was accepted")
            return
        }
        #expect(refusal.isRefusal)
        var state = TokenState(grant: .password, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        state.fetchSucceeded(issued("t1", refresh: "r1"), at: start)
        let due = start + .seconds(80)
        #expect(state.next(at: due) == .fetch(.refresh))
        state.fetchStarted()
        state.fetchFailed(refusal, kind: .refresh, at: due, jitter: 1)
        #expect(state.refreshToken == nil, "the refused refresh token is never sent again")
        #expect(state.next(at: due) == .fetch(.password), "the password grant follows at once")
        #expect(state.consecutiveFailures == 0)
        #expect(state.usableToken(at: due)?.value.revealed == "t1", "the valid token stays in use meanwhile")
        // The fallback fails too: now, and only now, the backoff starts.
        state.fetchStarted()
        state.fetchFailed(CredentialError(kind: .serverError(status: 503), detail: "x"), kind: .password, at: due, jitter: 1)
        #expect(state.next(at: due) == .wait(until: due + .seconds(1)))
        #expect(state.next(at: due + .seconds(1)) == .fetch(.password), "still the password grant, not the dropped refresh token")
    }

    @Test("a refused refresh under client_credentials falls back to client_credentials")
    func refusedRefreshUnderClientCredentials() {
        var state = TokenState(grant: .clientCredentials, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        state.fetchSucceeded(issued("t1", refresh: "r1"), at: start)
        #expect(state.next(at: start + .seconds(80)) == .fetch(.refresh))
        state.fetchFailed(CredentialError(kind: .unexpectedStatus(400), detail: "x"), kind: .refresh, at: start + .seconds(80), jitter: 0)
        #expect(state.next(at: start + .seconds(80)) == .fetch(.clientCredentials))
    }

    @Test(
        "a refresh that fails for the server's own reasons (5xx, 429, 408, network) keeps the refresh token and backs off",
        arguments: [
            CredentialError(kind: .serverError(status: 503), detail: "x"), CredentialError(kind: .rateLimited, detail: "x"),
            CredentialError(kind: .unexpectedStatus(408), detail: "x"), CredentialError(kind: .network, detail: "x"),
            CredentialError(kind: .timeout, detail: "x"),
        ]
    )
    func transientRefreshFailureKeepsRefreshToken(error: CredentialError) {
        #expect(!error.isRefusal)
        var state = TokenState(grant: .password, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        state.fetchSucceeded(issued("t1", refresh: "r1"), at: start)
        let due = start + .seconds(80)
        state.fetchFailed(error, kind: .refresh, at: due, jitter: 1)
        #expect(state.refreshToken?.revealed == "r1")
        #expect(state.next(at: due) == .wait(until: due + .seconds(1)))
        #expect(state.next(at: due + .seconds(1)) == .fetch(.refresh))
    }

    @Test("the age before a challenge-less 401 counts against the token is the state's setting (5 s unless set)")
    func unchallengedRejectionAge() {
        var state = TokenState(grant: .clientCredentials, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer",
                               unchallengedRejectionMinAge: .seconds(3600))
        state.fetchSucceeded(issued("t1", expiresIn: .seconds(7200)), at: start)
        #expect(state.upstreamRejected(Redacted("t1"), challenge: .none, at: start + .seconds(60), minInterval: .seconds(10)) == .passThrough)
        #expect(state.upstreamRejected(Redacted("t1"), challenge: .none, at: start + .seconds(3600), minInterval: .seconds(10)) == .retry)
        #expect(TokenState(grant: .clientCredentials, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
            .unchallengedRejectionMinAge == .seconds(5))
    }

    @Test("a 4xx to the profile's own grant is not a refresh-token refusal: it backs off")
    func refusedGrantBacksOff() {
        var state = TokenState(grant: .password, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        state.fetchFailed(CredentialError(kind: .unexpectedStatus(400), detail: "x"), kind: .password, at: start, jitter: 1)
        #expect(state.next(at: start) == .wait(until: start + .seconds(1)))
        #expect(state.consecutiveFailures == 1)
    }

    @Test("an upstream 401 drops the token only if it is still the current one")
    func invalidateOnlyCurrent() {
        var state = TokenState(grant: .clientCredentials, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        state.fetchSucceeded(issued("old"), at: start)
        state.fetchSucceeded(issued("new"), at: start)
        let old = state.upstreamRejected(Redacted("old"), challenge: .invalidToken, at: start, minInterval: .seconds(10))
        #expect(old == .retry, "a newer token is current: retry with it")
        #expect(state.usableToken(at: start)?.value.revealed == "new")
        let new = state.upstreamRejected(Redacted("new"), challenge: .invalidToken, at: start, minInterval: .seconds(10))
        #expect(new == .retry)
        #expect(state.usableToken(at: start) == nil)
        #expect(state.next(at: start) == .fetch(.clientCredentials))
    }

    @Test("a 401 drops the token only when it blames the token, at most once per interval, and keeps the backoff")
    func upstreamRejectionRules() {
        var state = TokenState(grant: .clientCredentials, refreshFraction: 0.8, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        state.fetchSucceeded(issued("t1"), at: start)
        #expect(state.upstreamRejected(Redacted("t1"), challenge: .other, at: start + .seconds(60), minInterval: .seconds(10)) == .passThrough)
        #expect(state.upstreamRejected(Redacted("t1"), challenge: .none, at: start + .seconds(1), minInterval: .seconds(10)) == .passThrough,
                "a brand-new token refused without a challenge is the upstream's business")
        #expect(state.usableToken(at: start + .seconds(1)) != nil)
        #expect(state.upstreamRejected(Redacted("t1"), challenge: .none, at: start + .seconds(60), minInterval: .seconds(10)) == .retry)
        state.fetchFailed(CredentialError(kind: .serverError(status: 503), detail: "x"), kind: .clientCredentials, at: start + .seconds(60), jitter: 0)
        let retryAt = state.retryAt
        state.fetchSucceeded(issued("t2"), at: start + .seconds(61))
        #expect(state.upstreamRejected(Redacted("t2"), challenge: .invalidToken, at: start + .seconds(65), minInterval: .seconds(10)) == .passThrough,
                "a second forced refresh within 10 s is refused")
        #expect(state.upstreamRejected(Redacted("t2"), challenge: .invalidToken, at: start + .seconds(71), minInterval: .seconds(10)) == .retry)
        #expect(retryAt != nil)
        #expect(TokenState.challenge([]) == .none)
        #expect(TokenState.challenge([#"Bearer realm="api", error="invalid_token""#]) == .invalidToken)
        #expect(TokenState.challenge([#"Bearer error="insufficient_scope""#]) == .other)
        #expect(TokenState.challenge(["Basic realm=x"]) == .other)
        #expect(TokenState.challenge([#"Basic realm="x", Bearer error="invalid_token""#]) == .invalidToken)
    }

    @Test("expires_in: non-finite is malformed, tiny and huge are clamped, and the refresh never spins")
    func lifetimeBounds() {
        #expect(TokenResponseParser.lifetime(.infinity) == nil)
        #expect(TokenResponseParser.lifetime(.nan) == nil)
        #expect(TokenResponseParser.lifetime(0.0001) == .seconds(1))
        #expect(TokenResponseParser.lifetime(-5) == .seconds(1))
        #expect(TokenResponseParser.lifetime(1e16) == .seconds(365 * 24 * 3600))
        var state = TokenState(grant: .clientCredentials, refreshFraction: 0.5, defaultLifetime: .seconds(300), headerScheme: "Bearer")
        var token = issued("t")
        token.expiresIn = .seconds(1)
        state.fetchSucceeded(token, at: start)
        #expect(state.next(at: start) == .wait(until: start + TokenState.minimumRefreshInterval))
    }
}
