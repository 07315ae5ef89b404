import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing
@testable import TokenGate

/// Login admission event by event, without sockets: sessions, their refresh and
/// timeouts, the login redirect, the callback and back-channel logout.
@Suite("Admission on a login route: sessions, refresh, login, callback and back-channel logout, event by event")
struct AdmissionLoginTests {
    let fixture: AdmissionFixture
    let now = WallClock.secondsSinceEpoch()

    init() throws {
        fixture = try AdmissionFixture()
    }

    func start(_ admission: inout Admission, at seconds: Int? = nil) -> Admission.Step {
        var clock = AdmissionClock(secondsSinceEpoch: seconds ?? now, instant: .now)
        var keys = TokenKeyMemo()
        return admission.start(clock: &clock, tokenKeys: &keys)
    }

    func resume(_ admission: inout Admission, _ outcome: Admission.Outcome, at seconds: Int? = nil) -> Admission.Step {
        var clock = AdmissionClock(secondsSinceEpoch: seconds ?? now, instant: .now)
        return admission.resume(outcome, clock: &clock)
    }

    /// The `Cookie` header of a browser holding `session`'s cookies.
    func cookies(for session: LoginSession) throws -> (String, String) {
        try AdmissionFixture.cookieHeader(fixture.login.sessionCookies(session, present: [], now: now))
    }

    @Test("no session: a page load is sent to the provider with a state cookie, an API call gets 401 login_required")
    func noSession() throws {
        var page = try fixture.admission(.GET, "/orders?page=2")
        let redirect = try #require(start(&page).answer)
        #expect(redirect.code == .loginRedirect)
        #expect(redirect.status == .found)
        let location = try #require(redirect.header("Location"))
        #expect(location.contains("idp.example.com/authorize"))
        #expect(location.contains("response_type=code"))
        #expect(location.contains("code_challenge_method=S256"))
        #expect(redirect.headerValues("Set-Cookie").contains { $0.contains(fixture.login.cookies.statePrefix) })

        var api = try fixture.admission(.GET, "/orders", headers: [("Accept", "application/json")])
        let refusal = try #require(start(&api).answer)
        #expect(refusal.code == .loginRequired)
        #expect(refusal.status == .unauthorized)
        #expect(refusal.header("WWW-Authenticate") != nil)
        #expect(refusal.fields.contains { $0.key == "login_url" && $0.value.hasPrefix("/.tokengate/login?return_to=") })
    }

    @Test("a current session admits with its identity; past its idle timeout (at the clock passed in) it is no session")
    func sessionAndIdleTimeout() throws {
        let session = AdmissionFixture.session(now: now, tokenExpiresAt: now + 3000)
        let cookie = try cookies(for: session)
        var current = try fixture.admission(.GET, "/orders", headers: [cookie, ("Accept", "application/json")])
        let grant = try #require(start(&current).grant)
        #expect(grant.identity?.subject == "alice")
        #expect(grant.responseFields.isEmpty, "seen less than a minute ago: not sealed again")

        var later = try fixture.admission(.GET, "/orders", headers: [cookie, ("Accept", "application/json")])
        let resealed = try #require(start(&later, at: now + 120).grant)
        #expect(resealed.responseFields.contains { $0.name == "Set-Cookie" }, "seen again after a minute: sealed with the new time")

        var idle = try fixture.admission(.GET, "/orders", headers: [cookie, ("Accept", "application/json")])
        #expect(start(&idle, at: now + 600).answer?.code == .loginRequired)
    }

    @Test("a session whose access token is due waits for its refresh: refreshed, it admits with the resealed cookies")
    func refreshed() throws {
        let session = AdmissionFixture.session(now: now, tokenExpiresAt: now + 30)
        let cookie = try cookies(for: session)
        var admission = try fixture.admission(.GET, "/orders", headers: [cookie])
        let step = start(&admission)
        guard case .sessionRefresh(_, let due)? = step.lookup else {
            Issue.record("expected a session refresh, got \(step)")
            return
        }
        #expect(due.id == session.id)
        var renewed = session
        renewed.accessToken = "access-2"
        renewed.accessTokenExpiresAt = now + 3600
        renewed.refreshToken = "refresh-2"
        let grant = try #require(resume(&admission, .sessionRefresh(.refreshed(renewed))).grant)
        #expect(grant.identity?.subject == "alice")
        #expect(grant.responseFields.contains { $0.name == "Set-Cookie" && $0.value.hasPrefix(fixture.login.cookies.session) })
    }

    @Test("a refresh that could not be made admits with the old session while its token lasts; an ended session logs in again")
    func refreshUnavailableOrEnded() throws {
        let session = AdmissionFixture.session(now: now, tokenExpiresAt: now + 30)
        let cookie = try cookies(for: session)
        var stillValid = try fixture.admission(.GET, "/orders", headers: [cookie])
        #expect(start(&stillValid).waitsFor == "sessionRefresh")
        #expect(resume(&stillValid, .sessionRefresh(.unavailable)).grant?.identity?.subject == "alice")

        var expired = try fixture.admission(.GET, "/orders", headers: [cookie])
        #expect(start(&expired).waitsFor == "sessionRefresh")
        #expect(resume(&expired, .sessionRefresh(.unavailable), at: now + 30).answer?.code == .loginRedirect)

        var ended = try fixture.admission(.GET, "/orders", headers: [cookie, ("Accept", "application/json")])
        #expect(start(&ended).waitsFor == "sessionRefresh")
        #expect(resume(&ended, .sessionRefresh(.ended)).answer?.code == .loginRequired)
    }

    @Test("a callback without a matching state cookie is refused; with one it waits for the code exchange, then redirects and deletes the state cookie")
    func callback() throws {
        var forged = try fixture.admission(.GET, "/.tokengate/callback?state=made-up&code=abc")
        let refusal = try #require(start(&forged).answer)
        #expect(refusal.code == .loginStateInvalid)
        #expect(refusal.status == .badRequest)

        let login = fixture.login
        let attempt = LoginAttempt(
            state: "state-1", nonce: "nonce-1", verifier: "verifier-1", returnTo: "/orders",
            redirectURI: "https://app.example.com/.tokengate/callback", createdAt: now
        )
        let name = login.cookies.stateCookie(for: attempt.state)
        let sealed = try #require(login.sealer.seal(attempt.encoded(), cookieName: name))
        var admission = try fixture.admission(.GET, "/.tokengate/callback?state=state-1&code=the-code", headers: [("Cookie", "\(name)=\(sealed)")])
        let step = start(&admission)
        guard case .codeExchange(_, let exchange)? = step.lookup else {
            Issue.record("expected a code exchange, got \(step)")
            return
        }
        #expect(exchange.code == "the-code")
        #expect(exchange.attempt == attempt)
        let outcome = LoginOutcome.redirect(location: "/orders", cookies: [("Set-Cookie", "session=sealed")])
        let redirect = try #require(resume(&admission, .codeExchange(outcome)).answer)
        #expect(redirect.code == .loginRedirect)
        #expect(redirect.header("Location") == "/orders")
        let cookies = redirect.headerValues("Set-Cookie")
        #expect(cookies.contains("session=sealed"))
        #expect(cookies.contains { $0.hasPrefix(name + "=") && $0.contains("Max-Age=0") })

        // Past the attempt's lifetime the same cookie is refused.
        var stale = try fixture.admission(.GET, "/.tokengate/callback?state=state-1&code=the-code", headers: [("Cookie", "\(name)=\(sealed)")])
        #expect(start(&stale, at: now + LoginAttempt.lifetime).answer?.code == .loginStateInvalid)
    }

    @Test("back-channel logout: only a POST, whose body is read first; no logout_token is invalid_request, a checked token logs out")
    func backchannelLogout() throws {
        var get = try fixture.admission(.GET, "/.tokengate/backchannel-logout")
        let notAllowed = try #require(start(&get).answer)
        #expect(notAllowed.code == .methodNotAllowed)
        #expect(notAllowed.header("Allow") == "POST")

        var empty = try fixture.admission(.POST, "/.tokengate/backchannel-logout", headers: [("Content-Length", "7")])
        #expect(start(&empty).waitsFor == "requestBody(\(Admission.logoutBodyLimit))")
        let noToken = try #require(resume(&empty, .requestBody(ByteBuffer(string: "other=1"))).answer)
        #expect(noToken.code == .invalidRequest)
        #expect(noToken.detail == "the form has no logout_token")

        var post = try fixture.admission(.POST, "/.tokengate/backchannel-logout", headers: [("Content-Length", "22")])
        _ = start(&post)
        let step = resume(&post, .requestBody(ByteBuffer(string: "logout_token=a.b%2Ec")))
        guard case .backchannelLogout(_, let token)? = step.lookup else {
            Issue.record("expected the logout token's check, got \(step)")
            return
        }
        #expect(token == "a.b.c", "form-decoded")
        #expect(resume(&post, .backchannelLogout(.checked(.success(1)))).answer?.code == .loggedOut)

        var busy = try fixture.admission(.POST, "/.tokengate/backchannel-logout", headers: [("Content-Length", "22")])
        _ = start(&busy)
        _ = resume(&busy, .requestBody(ByteBuffer(string: "logout_token=a.b.c")))
        let unavailable = try #require(resume(&busy, .backchannelLogout(.unavailable(.busy))).answer)
        #expect(unavailable.code == .loginUnavailable)
        #expect(unavailable.status == .serviceUnavailable)
    }

    @Test("the login profile's work queue is bounded: a full queue answers at once with 503, a stopped profile answers everything still queued")
    func loginWorkQueue() throws {
        let profile = try LoginRevocationTests.profile(revocationCapacity: 8, maxJobs: 2)
        let answers = AnswerLog()
        let attempt = LoginAttempt(state: "s", nonce: "n", verifier: "v", returnTo: "/", redirectURI: "https://a/cb", createdAt: now)
        let exchange = LoginProfile.CodeExchange(code: "c", attempt: attempt, present: [], route: "app")
        #expect(profile.submitCodeExchange(exchange, reply: { answers.add($0) }) == nil)
        #expect(profile.submitBackchannelLogout("a.b.c", reply: { answers.add($0) }) == nil)
        // Two jobs queued, none running (the loop is not started): the third is refused now.
        guard case .refuse(let full)? = profile.submitCodeExchange(exchange, reply: { answers.add($0) }) else {
            Issue.record("a full queue must answer at once")
            return
        }
        #expect(full.code == .loginUnavailable)
        #expect(full.header("Retry-After") == "1")
        #expect(answers.count == 0)

        profile.finish()
        #expect(answers.count == 2, "every queued job is answered when the profile stops")
        #expect(answers.codes == [.loginUnavailable, .loginUnavailable])
        guard case .unavailable(.stopped)? = profile.submitBackchannelLogout("a.b.c", reply: { answers.add($0) }) else {
            Issue.record("a stopped profile must answer at once")
            return
        }
    }
}

/// The answers queued login work got, from whichever thread.
private final class AnswerLog: Sendable {
    private let recorded = NIOLockedValueBox<[AnswerCode]>([])

    func add(_ outcome: LoginOutcome) {
        switch outcome {
        case .refuse(let answer): recorded.withLockedValue { $0.append(answer.code) }
        case .redirect: recorded.withLockedValue { $0.append(.loginRedirect) }
        }
    }

    func add(_ outcome: LoginProfile.BackchannelOutcome) {
        switch outcome {
        case .unavailable(let reason): recorded.withLockedValue { $0.append(reason.answer(route: "app").code) }
        case .checked: recorded.withLockedValue { $0.append(.loggedOut) }
        }
    }

    var count: Int { recorded.withLockedValue { $0.count } }
    var codes: [AnswerCode] { recorded.withLockedValue { $0 } }
}
