import Foundation
import Testing
import TokenGateSandbox

/// `tokengate run` as a child process (debug logs, JSON) with three credential profiles
/// (one with a wrong secret), a validating route, and the sandbox behind them.
private struct RunningGateway {
    let idp: SandboxAuthorizationServer
    let echo: EchoUpstream
    let directory: TemporaryDirectory
    let process: GatewayProcess
    let adminPort: Int
    let egress: Int
    let ingress: Int

    static let environment = [
        "TG_BILLING_SECRET": "demo-billing-secret", "TG_CRM_SECRET": "demo-crm-secret", "TG_CRM_PASSWORD": "demo-crm-password",
        "TG_WRONG_SECRET": "not-the-billing-secret-4711", "TG_RS_SECRET": "demo-introspection-secret",
    ]

    static func start() async throws -> RunningGateway {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let adminPort = try await freeLoopbackPort()
        let upstream = "http://127.0.0.1:\(echo.port)/"
        let directory = try TemporaryDirectory()
        let file = try directory.write("gateway.json", """
        { "listeners": { "egress": { "address": "127.0.0.1:0" }, "ingress": { "address": "127.0.0.1:0" } },
          "admin": { "address": "127.0.0.1:\(adminPort)" },
          "credentials": {
            "billing": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                         "client_secret": { "env": "TG_BILLING_SECRET" }, "scope": "invoices:read" },
            "crm": { "grant": "password", "token_url": "\(idp.tokenURL)", "client_id": "legacy-crm", "client_secret": { "env": "TG_CRM_SECRET" },
                     "username": "crm-sync", "password": { "env": "TG_CRM_PASSWORD" } },
            "broken": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                        "client_secret": { "env": "TG_WRONG_SECRET" } } },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs", "client_secret": { "env": "TG_RS_SECRET" } } },
          "routes": [
            { "name": "billing", "listener": "egress", "match": { "path_prefix": "/billing/" }, "upstream": "\(upstream)", "credential": "billing" },
            { "name": "crm", "listener": "egress", "match": { "path_prefix": "/crm/" }, "upstream": "\(upstream)", "credential": "crm" },
            { "name": "broken", "listener": "egress", "match": { "path_prefix": "/broken/" }, "upstream": "\(upstream)", "credential": "broken" },
            { "name": "app", "listener": "ingress", "match": { "path_prefix": "/" }, "upstream": "\(upstream)",
              "validate": { "introspection": "idp", "required_scopes": ["legacy:use"] } } ] }
        """)
        LeakWatch.register(environment.values)
        let process = try GatewayProcess(config: file, environment: environment)
        let egress = try await process.port(ofListener: "egress")
        let ingress = try await process.port(ofListener: "ingress")
        return RunningGateway(idp: idp, echo: echo, directory: directory, process: process, adminPort: adminPort, egress: egress, ingress: ingress)
    }

    var adminURL: String { "http://127.0.0.1:\(adminPort)" }

    func request(_ port: Int, _ head: String) async throws -> TestResponse {
        try #require(try await RawHTTPConnection.roundTrip(port: port, head + "Host: 127.0.0.1\r\nConnection: close\r\n\r\n"))
    }

    func admin(_ method: String, _ path: String) async throws -> TestResponse {
        try await request(adminPort, "\(method) \(path) HTTP/1.1\r\n")
    }

    func stop() async {
        await process.stop()
        directory.remove()
        await echo.stop()
        await idp.stop()
    }
}

@Suite("Redaction and tokengate status")
struct RedactionTests {
    @Test("no secret, password, token or cookie in any log line, access log line, error body, /status, /metrics or reload answer")
    func nothingLeaks() async throws {
        let gateway = try await RunningGateway.start()
        let caller = gateway.idp.issueToken(clientID: "demo-caller", scope: "legacy:use", username: "alice")
        let forged = "forged-token-0123456789abcdef"
        let cookie = "session-cookie-secret-value-42"
        LeakWatch.register([forged, cookie, "query-secret-abcdef", "inline-secret-in-a-bad-edit"])
        // What the gateway itself wrote back (the echo upstream's own bodies repeat what it
        // was sent, tokens included, by design).
        var bodies: [String] = []
        // The credentials the upstream received, as it reported them: an independent record
        // of what the gateway held, to check that the leak check knows each one.
        var injected: [String] = []
        func keep(_ response: TestResponse) -> TestResponse {
            if let report = EchoReport(response) {
                if let value = report.header("authorization"), value.hasPrefix("Bearer ") { injected.append(String(value.dropFirst(7))) }
            } else {
                bodies.append(response.bodyText)
            }
            return response
        }

        #expect(keep(try await gateway.request(gateway.egress, "GET /billing/a?access_token=query-secret-abcdef HTTP/1.1\r\nCookie: sid=\(cookie)\r\n")).status == 200)
        #expect(keep(try await gateway.request(gateway.egress, "GET /crm/b HTTP/1.1\r\nProxy-Authorization: Basic \(cookie)\r\n")).status == 200)
        #expect(keep(try await gateway.request(gateway.egress, "GET /broken/c HTTP/1.1\r\n")).status == 503)
        #expect(keep(try await gateway.request(gateway.ingress, "GET /app HTTP/1.1\r\nAuthorization: Bearer \(caller)\r\nCookie: sid=\(cookie)\r\n")).status == 200)
        #expect(keep(try await gateway.request(gateway.ingress, "GET /app HTTP/1.1\r\nAuthorization: Bearer \(forged)\r\n")).status == 401)
        // A token in the query alone (the implicit grant's habit) is refused with why, never echoed.
        let inQuery = keep(try await gateway.request(gateway.ingress, "GET /app?access_token=\(caller) HTTP/1.1\r\n"))
        #expect(inQuery.status == 400)
        #expect(inQuery.bodyText.contains("send it as Authorization: Bearer"))
        #expect(keep(try await gateway.request(gateway.ingress, "GET /app HTTP/1.1\r\nAuthorization: Bearer \(caller)\r\nAuthorization: Bearer \(forged)\r\n")).status == 400)

        // A broken edit with an inline secret: the reload answer and /status name the problem, not the value.
        _ = try gateway.directory.write("gateway.json", #"{ "listeners": { "x": { "adress": "127.0.0.1:0" } }, "credentials": { "c": { "client_secret": "inline-secret-in-a-bad-edit" } }, "routes": [] }"#)
        let reload = keep(try await gateway.admin("POST", "/reload"))
        #expect(reload.status == 422)
        let status = keep(try await gateway.admin("GET", "/status"))
        #expect(status.bodyText.contains("\"has_token\":true"))
        let metrics = keep(try await gateway.admin("GET", "/metrics"))
        #expect(metrics.bodyText.contains("tokengate_requests_total"))
        #expect(try await gateway.admin("GET", "/healthz").status == 200)

        // The check has teeth: it knows the tokens the gateway held and the caller sent.
        // (Booleans only, so a failure report prints no secret.)
        let known = LeakWatch.secrets
        let knowsTheseSecrets = known.contains(caller) && known.contains("demo-crm-password") && known.contains("demo-billing-secret")
        #expect(knowsTheseSecrets)
        let knowsEveryInjectedToken = injected.count == 2 && injected.allSatisfy { known.contains($0) }
        #expect(knowsEveryInjectedToken)
        let findsAPlantedToken = LeakWatch.leaks(in: "prefix \(caller) suffix") == [caller]
        #expect(findsAPlantedToken)

        #expect(bodies.count == 7)
        for (index, body) in bodies.enumerated() { LeakWatch.expectNoLeaks(in: body, "gateway answer \(index)") }
        // Give the access log a moment, then look at everything the process wrote.
        #expect(await eventually(within: .seconds(3)) { gateway.process.logLines.contains { $0.contains(#""route":"broken""#) } })
        let output = gateway.process.logLines.joined(separator: "\n")
        #expect(output.contains(#""path":"/billing/a?access_token=<redacted>""#))
        #expect(output.contains(#""path":"/app?access_token=<redacted>""#))
        #expect(output.contains("token request refused"))
        await gateway.stop()
    }

    @Test("tokengate status prints each profile's token state: a fresh token, and a refused one with its error")
    func statusCommand() async throws {
        let gateway = try await RunningGateway.start()
        #expect(try await gateway.request(gateway.egress, "GET /billing/a HTTP/1.1\r\n").status == 200)
        #expect(await eventually(within: .seconds(5)) { gateway.process.logLines.contains { $0.contains("token request refused") } })

        let result = try await runTokenGate(["status", "--admin", gateway.adminURL])
        #expect(result.status == 0, "\(result.stderr)")
        // Tables are separated by blank lines; each starts with its header row.
        let tables = result.stdout.components(separatedBy: "\n\n").map { $0.split(separator: "\n").map(String.init) }
        let credentials = try #require(tables.first { $0.first?.hasPrefix("CREDENTIAL ") == true })
        #expect(credentials[0].contains("TOKEN") && credentials[0].contains("EXPIRES IN") && credentials[0].contains("LAST ERROR"))
        let billing = try #require(credentials.first { $0.hasPrefix("billing ") })
        #expect(billing.contains("client_credentials") && billing.contains(" yes ") && billing.contains("59m"))
        let broken = try #require(credentials.first { $0.hasPrefix("broken ") })
        #expect(broken.contains(" NO ") && broken.contains("invalid_client"))
        #expect(credentials.contains { $0.hasPrefix("crm ") && $0.contains("password") })
        #expect(tables.contains { $0.first?.hasPrefix("INTROSPECTION ") == true && $0.dropFirst().contains { $0.hasPrefix("idp ") } })
        #expect(tables.contains { $0.first?.hasPrefix("ROUTE ") == true && $0.contains { $0.hasPrefix("app ") && $0.contains("ingress") } })
        LeakWatch.expectNoLeaks(in: result.stdout + result.stderr, "tokengate status")

        let raw = try await runTokenGate(["status", "--admin", gateway.adminURL, "--json"])
        #expect((try? JSONSerialization.jsonObject(with: Data(raw.stdout.utf8))) is [String: Any])

        let unreachable = try await runTokenGate(["status", "--admin", "http://127.0.0.1:\(try await freeLoopbackPort())"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot read"))
        await gateway.stop()
    }
}
