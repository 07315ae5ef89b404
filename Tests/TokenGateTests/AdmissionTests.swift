import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import TokenGate

/// Admission event by event, without sockets: each test starts the value for a planned
/// request, reads its step, and resumes it with the outcome a lookup could come to, the
/// clock passed in.
@Suite("Admission: bearer tokens, JWTs, introspection and the credential as a value, event by event")
struct AdmissionTests {
    let fixture: AdmissionFixture
    let now = WallClock.secondsSinceEpoch()

    init() throws {
        fixture = try AdmissionFixture()
    }

    func fixedClock(_ seconds: Int? = nil) -> AdmissionClock {
        AdmissionClock(secondsSinceEpoch: seconds ?? now, instant: .now)
    }

    func start(_ admission: inout Admission, at seconds: Int? = nil) -> Admission.Step {
        var clock = fixedClock(seconds)
        var keys = TokenKeyMemo()
        return admission.start(clock: &clock, tokenKeys: &keys)
    }

    func resume(_ admission: inout Admission, _ outcome: Admission.Outcome, at seconds: Int? = nil) -> Admission.Step {
        var clock = fixedClock(seconds)
        return admission.resume(outcome, clock: &clock)
    }

    @Test("a route without validation or credential admits at once, with nothing to inject")
    func plainRouteAdmits() throws {
        // The login route's public path: no session needed.
        var admission = try fixture.admission(.GET, "/static/app.css")
        let grant = try #require(start(&admission).grant)
        #expect(grant.credential == nil)
        #expect(grant.identity == nil)
        #expect(grant.responseFields.isEmpty)
    }

    @Test("no bearer token: 401 with a bare challenge; two Authorization headers: 400; a token that is no b64token: 400")
    func bearerRefusals() throws {
        var absent = try fixture.admission(.GET, "/api/orders")
        let missing = try #require(start(&absent).answer)
        #expect(missing.code == .unauthorized)
        #expect(missing.header("WWW-Authenticate")?.hasPrefix("Bearer realm=") == true)

        var doubled = try fixture.admission(.GET, "/api/orders", headers: [("Authorization", "Bearer a"), ("Authorization", "Bearer b")])
        let malformed = try #require(start(&doubled).answer)
        #expect(malformed.code == .invalidRequest)
        #expect(malformed.status == .badRequest)

        var strange = try fixture.admission(.GET, "/api/orders", headers: [("Authorization", "Bearer to{ken}")])
        let syntax = try #require(start(&strange).answer)
        #expect(syntax.code == .invalidRequest)
        #expect(syntax.detail == BearerCredential.notB64Token)
    }

    @Test("an introspection miss waits for the call; active claims admit with the caller's identity, inactive ones are refused, a failure is a 503")
    func introspectionMiss() throws {
        let headers = [("Authorization", "Bearer opaque-token-1")]
        var admission = try fixture.admission(.GET, "/api/orders", headers: headers)
        #expect(start(&admission).waitsFor == "introspection")
        let claims = IntrospectionClaims(active: true, scope: "orders", clientID: "caller", subject: "alice", expiresAt: now + 600, audiences: [], other: [:])
        let grant = try #require(resume(&admission, .introspection(.answer(claims))).grant)
        #expect(grant.identity?.subject == "alice")
        #expect(grant.identity?.clientID == "caller")
        #expect(grant.field("X-Auth-Subject") == "alice")
        #expect(grant.credential == nil)

        var inactive = try fixture.admission(.GET, "/api/orders", headers: headers)
        #expect(start(&inactive).waitsFor == "introspection")
        let refused = try #require(resume(&inactive, .introspection(.answer(.inactive))).answer)
        #expect(refused.code == .invalidToken)
        #expect(refused.status == .unauthorized)

        var failing = try fixture.admission(.GET, "/api/orders", headers: headers)
        #expect(start(&failing).waitsFor == "introspection")
        let unavailable = try #require(resume(&failing, .introspection(.failed(IntrospectionError(description: "down")))).answer)
        #expect(unavailable.code == .introspectionUnavailable)
        #expect(unavailable.status == .serviceUnavailable)
        #expect(unavailable.header("Retry-After") != nil)
    }

    @Test("introspected claims past their exp are refused at the clock passed in, not before")
    func introspectionExpiryFollowsTheClock() throws {
        let claims = IntrospectionClaims(active: true, subject: "alice", expiresAt: now + 100, audiences: [], other: [:])
        var early = try fixture.admission(.GET, "/api/orders", headers: [("Authorization", "Bearer opaque-token-2")])
        _ = start(&early)
        #expect(resume(&early, .introspection(.answer(claims)), at: now + 99).grant != nil)
        var late = try fixture.admission(.GET, "/api/orders", headers: [("Authorization", "Bearer opaque-token-2")])
        _ = start(&late)
        #expect(resume(&late, .introspection(.answer(claims)), at: now + 100).answer?.detail == "the token has expired")
    }

    @Test("a JWT from the issuer is checked by the JWT profile, then admitted from its cache at once; past exp and the skew it is refused")
    func jwtValidationAndCacheHit() async throws {
        try await fixture.loadKeys()
        let token = AdmissionFixture.accessToken(expiresAt: now + 3600)
        let headers = [("Authorization", "Bearer " + token)]
        var first = try fixture.admission(.GET, "/jwt/orders", headers: headers)
        let step = start(&first)
        guard case .jwt(let profile, let parsed, let raw, let key)? = step.lookup else {
            Issue.record("expected a JWT check, got \(step)")
            return
        }
        // The lookup, as the connection issues it: the keys are loaded, so it answers at once.
        let checked = profile.validate(parsed, token: raw, key: key, waiter: nil)
        let grant = try #require(resume(&first, .jwt(checked)).grant)
        #expect(grant.identity?.subject == "alice")
        #expect(grant.identity?.clientID == "caller")
        #expect(grant.field("X-Auth-Scope") == "orders")

        // The next request with the token: a cache hit, no lookup.
        var second = try fixture.admission(.GET, "/jwt/orders", headers: headers)
        #expect(start(&second).grant?.identity?.subject == "alice")

        // The cached claims are judged at the clock passed in: within the skew, then past it.
        var skewed = try fixture.admission(.GET, "/jwt/orders", headers: headers)
        #expect(start(&skewed, at: now + 3600 + 59).grant != nil)
        var expired = try fixture.admission(.GET, "/jwt/orders", headers: headers)
        let refusal = try #require(start(&expired, at: now + 3600 + 60).answer)
        #expect(refusal.code == .invalidToken)
        #expect(refusal.detail == "the token has expired")
    }

    @Test("a JWT from another issuer: refused where only the JWT profile validates, introspected where introspection is the fallback")
    func jwtFromAnotherIssuer() throws {
        let token = AdmissionFixture.accessToken(issuer: "https://other.example.com", expiresAt: now + 3600)
        var jwtOnly = try fixture.admission(.GET, "/jwt/orders", headers: [("Authorization", "Bearer " + token)])
        let refusal = try #require(start(&jwtOnly).answer)
        #expect(refusal.code == .invalidToken)
        #expect(refusal.detail == "the token is from another issuer")

        var both = try fixture.admission(.GET, "/both/orders", headers: [("Authorization", "Bearer " + token)])
        #expect(start(&both).waitsFor == "introspection")
    }

    @Test("a JWT check that fails for want of keys is a 503 with Retry-After; a refused one a 401")
    func jwtSettledRefusals() throws {
        let token = AdmissionFixture.accessToken(expiresAt: now + 3600)
        var unavailable = try fixture.admission(.GET, "/jwt/orders", headers: [("Authorization", "Bearer " + token)])
        #expect(start(&unavailable).waitsFor == "jwt")
        let noKeys = try #require(resume(&unavailable, .jwt(.failed(JWKSError("the key set is not loaded")))).answer)
        #expect(noKeys.code == .jwksUnavailable)
        #expect(noKeys.header("Retry-After") == "5")

        var refused = try fixture.admission(.GET, "/jwt/orders", headers: [("Authorization", "Bearer " + token)])
        _ = start(&refused)
        #expect(resume(&refused, .jwt(.refused("the token's signature does not verify"))).answer?.code == .invalidToken)
    }

    @Test("no current token: the credential is waited for, then injected; unavailable, the caller gets 503 and when to retry")
    func credentialWait() throws {
        var admission = try fixture.admission(.GET, "/billing/invoices")
        #expect(start(&admission).waitsFor == "credential")
        let token = TokenState.Token(
            value: Redacted("egress-token"), headerValue: Redacted("Bearer egress-token"), scope: nil,
            obtainedAt: .now, refreshAt: .now + .seconds(60), expiresAt: .now + .seconds(120)
        )
        let grant = try #require(resume(&admission, .credential(.ready(token))).grant)
        #expect(grant.credential?.header == fixture.credential.config.headerName)
        #expect(grant.credential?.headerValue.revealed == "Bearer egress-token")
        #expect(grant.identity == nil)

        var failing = try fixture.admission(.GET, "/billing/invoices")
        _ = start(&failing)
        let error = CredentialError(kind: .timeout, detail: "the token endpoint did not answer", retryAfter: nil)
        let answer = try #require(resume(&failing, .credential(.unavailable(error, retryAfter: .milliseconds(2500)))).answer)
        #expect(answer.code == .credentialUnavailable)
        #expect(answer.header("Retry-After") == "3")
        #expect(answer.fields.contains { $0.key == "credential" && $0.value == "billing" })
    }

    @Test("after an upstream 401 only the credential step runs again: the grant names the credential alone")
    func reauthorizeObtainsTheCredentialOnly() throws {
        var admission = try fixture.admission(.GET, "/billing/invoices")
        var clock = fixedClock()
        #expect(admission.reauthorize(clock: &clock).waitsFor == "credential")
    }

    @Test("an outcome for another lookup than the one waited for is refused, never admitted")
    func mismatchedOutcomeIsRefused() throws {
        var admission = try fixture.admission(.GET, "/api/orders", headers: [("Authorization", "Bearer opaque-token-3")])
        #expect(start(&admission).waitsFor == "introspection")
        #expect(resume(&admission, .sessionRefresh(.unavailable)).answer?.code == .internalError)
    }
}
