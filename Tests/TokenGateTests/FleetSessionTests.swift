import Foundation
import Testing
@testable import TokenGate
import TokenGateSandbox

/// Login sessions across the fleet: refresh single-flight over replicas, and sessions kept
/// in the store (`session.store: "shared"`). Part of `FleetTests`, so it runs serialized
/// with the other fleets.
extension FleetTests {
    /// `count` concurrent requests with `cookie`, spread over the replicas: status, user name
    /// and access token the app saw.
    private static func spread(_ count: Int, cookie: String, over fleet: FleetSetup) async throws -> [(status: Int, user: String?, token: String?)] {
        try await withThrowingTaskGroup(of: (status: Int, user: String?, token: String?).self) { group in
            for index in 0..<count {
                let replica = fleet.replicas[index % fleet.replicas.count]
                group.addTask {
                    let tab = CookieBrowser()
                    tab.setCookie(replica.sessionCookie, cookie, at: replica.origin)
                    let page = try await tab.request(replica.base + "/page/\(index)", headers: ["Accept": "application/json"])
                    let report = EchoReport(page.response)
                    return (page.response.status, report?.header("x-auth-username"), report?.header("x-auth-access-token"))
                }
            }
            var all: [(status: Int, user: String?, token: String?)] = []
            for try await answer in group { all.append(answer) }
            return all
        }
    }

    @Test(
        "200 concurrent requests over three replicas, one session due for refresh: one refresh grant at the provider, 200 answered as the user, no logout; with the provider taking 3 s a token request, still one",
        arguments: ["cookie", "shared"]
    )
    func refreshAcrossReplicas(store: String) async throws {
        // 30 s access tokens, inside the 60 s refresh-ahead: a session is due at once.
        let fleet = try await FleetSetup.start(.init(sessionStore: store, tokenLifetime: 30))
        let a = fleet.replicas[0]
        for delay in [0.0, 3.0] {
            let cookie = try await fleet.logIn(CookieBrowser(), at: a)
            let before = try await fleet.refreshGrants()
            try await fleet.dot.setTokenDelay(delay)
            let answers = try await Self.spread(200, cookie: cookie, over: fleet)
            try await fleet.dot.setTokenDelay(0)
            #expect(answers.count == 200)
            #expect(answers.allSatisfy { $0.status == 200 && $0.user == DjangoOAuthToolkit.alice.name }, "\(answers.map(\.status).filter { $0 != 200 })")
            #expect(try await fleet.refreshGrants() - before == 1, "one refresh grant for the fleet (provider delay \(delay) s)")
            #expect(Set(answers.compactMap(\.token)).count == 1, "every replica handed on the one refreshed token")
            #expect(try await a.status(withSession: cookie) == 200, "the old cookie still opens (no logout)")
        }
        for replica in fleet.replicas {
            let metrics = try await replica.admin("/metrics").bodyText
            let refused = metrics.split(separator: "\n").filter { $0.hasPrefix("tokengate_login_refreshes_total{") && $0.contains(#"outcome="refused""#) }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
            #expect(refused == 0, "no refresh was refused at \(replica.port): nobody was logged out")
        }
        try await fleet.expectDumpHoldsNoToken()
        await fleet.stop()
    }

    @Test("shared sessions: a sealed id in the cookie, the session in the store for every replica; a logout at one ends it on the others; with the store stopped, a replica that must read a session answers 503 with Retry-After (a page for a page load), and serves it again once the store is back; the dump holds no token")
    func sharedSessions() async throws {
        let fleet = try await FleetSetup.start(.init(poll: 0.5, sessionStore: "shared"))
        let (a, b, c) = (fleet.replicas[0], fleet.replicas[1], fleet.replicas[2])
        let browser = CookieBrowser()
        let cookie = try await fleet.logIn(browser, at: a)
        #expect(cookie.utf8.count < 200, "a sealed id, not the tokens")
        let page = try await b.get("/x", headers: "Cookie: \(b.sessionCookie)=\(cookie)\r\nAccept: application/json\r\n")
        #expect(EchoReport(page)?.header("x-auth-username") == DjangoOAuthToolkit.alice.name, "B reads the session from the store")
        let handedOn = try await fleet.dot.witness().issued.contains(EchoReport(page)?.header("x-auth-access-token") ?? "-")
        #expect(handedOn, "with the provider's access token")
        _ = try await browser.request(a.base + "/.tokengate/logout")
        #expect(try await eventually(within: .seconds(1)) { try await b.status(withSession: cookie) == 302 }, "B refuses the logged-out session")
        #expect(try await c.status(withSession: cookie) == 302, "so does C, which never read it")

        let secondCookie = try await fleet.logIn(CookieBrowser(), at: a)
        try await fleet.store.stopServer()
        let api = CookieBrowser()
        api.setCookie(c.sessionCookie, secondCookie, at: c.origin)
        let refused = try await api.request(c.base + "/x", headers: ["Accept": "application/json"]).response
        #expect(refused.status == 503)
        #expect(refused.header("retry-after") != nil)
        #expect(refused.bodyText.contains("session_store_unavailable"))
        let pageLoad = try await api.request(c.base + "/x", headers: ["Accept": "text/html"]).response
        #expect(pageLoad.status == 503, "a page load is not sent to log in again")
        #expect(pageLoad.header("retry-after") != nil)
        #expect(pageLoad.header("content-type")?.hasPrefix("text/html") == true && pageLoad.bodyText.contains("Try again shortly"))
        #expect(try await c.get("/open/x").status == 200, "routes without a session do not need the store")
        try await fleet.store.startServer(readOnly: false)
        #expect(try await eventually(within: .seconds(30)) { try await c.status(withSession: secondCookie) == 200 }, "C serves it once the store is back")

        let dump = try await fleet.expectDumpHoldsNoToken()
        #expect(dump.contains("tokengate_sessions"))
        await fleet.stop()
    }
}
