import Foundation
import Testing
@testable import TokenGate
import TokenGateSandbox

/// Login sessions across the fleet: refresh single-flight over replicas, and sessions kept
/// in the store (`session.store: "shared"`). Part of `FleetTests`, so it runs serialized
/// with the other fleets.
extension FleetTests {
    /// The provider's access tokens live 30 s, inside the 60 s refresh-ahead window: every
    /// session is due for refresh as soon as it is made.
    private static var dueAtOnce: SandboxAuthorizationServer.Configuration {
        var sandbox = SandboxAuthorizationServer.Configuration.demo
        sandbox.accessTokenLifetime = .seconds(30)
        return sandbox
    }

    /// `count` concurrent requests with `cookie`, spread over the replicas: status, subject
    /// and access token the app saw.
    private static func spread(_ count: Int, cookie: String, over fleet: FleetSetup) async throws -> [(status: Int, subject: String?, token: String?)] {
        try await withThrowingTaskGroup(of: (status: Int, subject: String?, token: String?).self) { group in
            for index in 0..<count {
                let replica = fleet.replicas[index % fleet.replicas.count]
                group.addTask {
                    let tab = CookieBrowser()
                    tab.setCookie(replica.sessionCookie, cookie, at: replica.origin)
                    let page = try await tab.request(replica.base + "/page/\(index)", headers: ["Accept": "application/json"])
                    let report = EchoReport(page.response)
                    return (page.response.status, report?.header("x-auth-subject"), report?.header("x-auth-access-token"))
                }
            }
            var all: [(status: Int, subject: String?, token: String?)] = []
            for try await answer in group { all.append(answer) }
            return all
        }
    }

    @Test(
        "200 concurrent requests over three replicas, one session due for refresh: one refresh grant, 200 answered as the user, no logout; with the provider taking 3 s a token request, still one",
        arguments: ["cookie", "shared"]
    )
    func refreshAcrossReplicas(store: String) async throws {
        let fleet = try await FleetSetup.start(
            storeExtras: FleetSetup.sealKeys, sandbox: Self.dueAtOnce,
            profileExtras: #", "pass_access_token": true, "session": { "store": "\#(store)" }"#
        )
        let a = fleet.replicas[0]
        for delay in [nil, Duration.seconds(3)] {
            let browser = CookieBrowser()
            _ = try await a.logIn(browser)
            let cookie = try #require(browser.cookies(at: a.origin)[a.sessionCookie])
            let before = fleet.refreshGrants
            if let delay { fleet.idp.setFault(.delay(delay), on: .token) }
            let answers = try await Self.spread(200, cookie: cookie, over: fleet)
            fleet.idp.setFault(nil, on: .token)
            #expect(answers.count == 200)
            #expect(answers.allSatisfy { $0.status == 200 && $0.subject == "alice" }, "\(answers.map(\.status).filter { $0 != 200 })")
            #expect(fleet.refreshGrants - before == 1, "one refresh grant for the fleet (delay \(String(describing: delay)))")
            #expect(Set(answers.compactMap(\.token)).count == 1, "every replica handed on the one refreshed token")
            #expect(try await a.status(withSession: cookie) == 200, "the old cookie still opens (no logout)")
        }
        for replica in fleet.replicas {
            let metrics = try await replica.gateway.admin("/metrics").bodyText
            #expect(!metrics.contains(#"outcome="refused"} 1"#), "no refresh was refused: nobody was logged out")
        }
        await fleet.stop()
    }

    @Test("shared sessions: a sealed id in the cookie, the session in the store for every replica; a logout at one ends it on the others; with the store stopped, a replica that must read a session answers 503 with Retry-After (a page for a page load), and serves it again once the store is back; the dump holds no token")
    func sharedSessions() async throws {
        let fleet = try await FleetSetup.start(
            poll: 0.5, storeExtras: FleetSetup.sealKeys, profileExtras: #", "pass_access_token": true, "session": { "store": "shared" }"#
        )
        let (a, b, c) = (fleet.replicas[0], fleet.replicas[1], fleet.replicas[2])
        let browser = CookieBrowser()
        _ = try await a.logIn(browser)
        let cookie = try #require(browser.cookies(at: a.origin)[a.sessionCookie])
        #expect(cookie.utf8.count < 200, "a sealed id, not the tokens")
        let onB = CookieBrowser()
        onB.setCookie(b.sessionCookie, cookie, at: b.origin)
        let page = try await onB.request(b.base + "/x")
        #expect(EchoReport(page.response)?.header("x-auth-subject") == "alice", "B reads the session from the store")
        let handedOn = EchoReport(page.response)?.header("x-auth-access-token") == fleet.idp.issuedAccessTokens.last
        #expect(handedOn, "with the provider's access token")
        _ = try await browser.request(a.base + "/.tokengate/logout")
        #expect(try await eventually(within: .seconds(1)) { try await b.status(withSession: cookie) == 302 }, "B refuses the logged-out session")
        #expect(try await c.status(withSession: cookie) == 302, "so does C, which never read it")

        let second = CookieBrowser()
        _ = try await a.logIn(second)
        let secondCookie = try #require(second.cookies(at: a.origin)[a.sessionCookie])
        try await fleet.store.stopServer()
        let api = CookieBrowser()
        api.setCookie(c.sessionCookie, secondCookie, at: c.origin)
        let refused = try await api.request(c.base + "/x", headers: ["Accept": "application/json"]).response
        #expect(refused.status == 503)
        #expect(refused.header("retry-after") != nil)
        #expect(refused.bodyText.contains("session_store_unavailable"))
        let pageLoad = try await api.request(c.base + "/x", headers: ["Accept": "text/html"]).response
        #expect(pageLoad.status == 503, "a page load is not sent to log in again")
        #expect(pageLoad.header("content-type")?.hasPrefix("text/html") == true && pageLoad.bodyText.contains("Try again shortly"))
        #expect(try await c.status(withSession: "", "/open/x") == 200, "routes without a session do not need the store")
        try await fleet.store.startServer(readOnly: false)
        #expect(try await eventually(within: .seconds(30)) { try await c.status(withSession: secondCookie) == 200 }, "C serves it once the store is back")

        let dump = try await fleet.store.dump()
        #expect(dump.contains("tokengate_sessions"))
        let noToken = !fleet.idp.issuedAccessTokens.isEmpty && !fleet.idp.issuedAccessTokens.contains { dump.contains($0) }
        #expect(noToken, "no access token in the dump")
        LeakWatch.expectNoLeaks(in: dump, "the store's dump (sealed sessions only)")
        await fleet.stop()
    }
}
