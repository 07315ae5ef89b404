import Foundation
import Testing
@testable import TokenGate
import TokenGateSandbox

@Suite("The tokengate command")
struct CommandLineTests {
    @Test("check accepts the shipped gateway.json")
    func checkShippedConfig() async throws {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let result = try await runTokenGate(["check", packageRoot.appendingPathComponent("gateway.json").path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(": OK"))
    }

    @Test("check lists every error with its JSON path and exits 2")
    func checkListsAllErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("gateway.json", """
        { "listeners": { "egress": { "address": "127.0.0.1:8081" } },
          "credentials": { "billing-api": { "grant": "client_credentials", "token_url": "https://idp.example.com/token",
            "client_id": "billing", "client_secret": { "env": "TG_TEST_NEVER_SET_SECRET" } } },
          "routes": [ { "name": "billing", "listener": "egress", "match": { "path_prefix": "/billing/" },
            "upsteam": "https://billing.example.com/", "upstream": "api/", "credential": "billing-apii" } ] }
        """)
        let result = try await runTokenGate(["check", file])
        #expect(result.status == 2)
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors == [
            #"error: routes[0].upsteam: unknown key, did you mean "upstream"?"#,
            #"error: routes[0].upstream: must be an absolute http:// or https:// URL (got "api/")"#,
            #"error: routes[0].credential: no credential profile named "billing-apii", did you mean "billing-api"?"#,
            "error: credentials.billing-api.client_secret: environment variable TG_TEST_NEVER_SET_SECRET is not set",
        ])
    }

    @Test("check --no-secrets validates a file alone: unread secrets and CA files pass, every other error still fails")
    func checkWithoutSecrets() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let valid = try directory.write("valid.json", """
        { "listeners": { "egress": { "address": "127.0.0.1:8081" } },
          "credentials": { "billing-api": { "grant": "client_credentials", "token_url": "https://idp.example.com/token",
            "client_id": "billing", "client_secret": { "file": "/run/secrets/tg-test-never-there" }, "ca_file": "/nonexistent/ca.pem" } },
          "routes": [ { "name": "billing", "listener": "egress", "match": { "path_prefix": "/billing/" },
            "upstream": "https://billing.example.com/", "credential": "billing-api" } ] }
        """)
        #expect(try await runTokenGate(["check", valid]).status == 2)
        let offline = try await runTokenGate(["check", "--no-secrets", valid])
        #expect(offline.status == 0, "\(offline.stderr)")
        #expect(offline.stdout.contains("secrets and CA files were not read"))
        let broken = try directory.write("broken.json", #"{ "listeners": { "egress": { "address": "127.0.0.1:8081" } }, "routes": [], "acess_log": {} }"#)
        let refused = try await runTokenGate(["check", "--no-secrets", broken])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains(#"acess_log: unknown key, did you mean "access_log"?"#))
    }

    @Test("run refuses a bad file with its errors and exit status 2")
    func runRefusesBadConfig() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("gateway.json", #"{ "listeners": { "a": { "address": "nope" } }, "routes": [] }"#)
        let result = try await runTokenGate(["run", "--config", file])
        #expect(result.status == 2)
        #expect(result.stderr.contains(#"listeners.a.address: expected "host:port" (got "nope")"#))
    }

    @Test("version prints the version")
    func version() async throws {
        let result = try await runTokenGate(["version"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("tokengate "))
    }

    @Test("SIGTERM during a slow request lets it finish, then the gateway exits 0 and its port is closed")
    func sigtermDrains() async throws {
        let echo = try await EchoUpstream.start()
        defer { Task { await echo.stop() } }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("gateway.json", proxyConfig(upstreamPort: echo.port))
        let gateway = try GatewayProcess(config: file)
        defer { gateway.kill() }
        let port = try await gateway.port(ofListener: "main")

        let slow = try await RawHTTPConnection.connect(port: port)
        // Slow enough that the gateway has begun draining before the answer comes.
        try await slow.send("GET /slow HTTP/1.1\r\nHost: a\r\nX-Echo-Delay-Ms: \(1500 * TestTime.scale)\r\n\r\n")
        #expect(await eventually(within: .seconds(10)) { echo.requestCount > 0 })
        gateway.signal(SIGTERM)

        let response = try #require(try await slow.readResponse(timeout: .seconds(10)))
        #expect(response.status == 200)
        #expect(response.header("connection") == "close")
        #expect(await gateway.exitStatus(within: .seconds(10)) == 0)
        await #expect(throws: (any Error).self) { _ = try await RawHTTPConnection.connect(port: port) }
        await gateway.stop()
    }

    @Test("workers sets the number of event-loop threads; /status and the start-up log show it")
    func workersSetting() async throws {
        let echo = try await EchoUpstream.start()
        defer { Task { await echo.stop() } }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let admin = try await freeLoopbackPort()
        let file = try directory.write("gateway.json", """
        { "workers": 1, "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:\(admin)" },
          "routes": [ { "name": "echo", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(echo.port)/" } ] }
        """)
        let gateway = try GatewayProcess(config: file)
        defer { gateway.kill() }
        let port = try await gateway.port(ofListener: "main")
        #expect(try await RawHTTPConnection.roundTrip(port: port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")?.status == 200)
        let status = try #require(try await RawHTTPConnection.roundTrip(port: admin, "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
        #expect(status.bodyText.contains(#""workers":1"#))
        #expect(gateway.logLines.contains { $0.contains(#""msg":"admin listening""#) && $0.contains(#""workers":"1""#) })
        await gateway.stop()
    }

    @Test("admin /healthz and /readyz answer while running")
    func adminProbes() async throws {
        let echo = try await EchoUpstream.start()
        let gateway = try await TestGateway.start(proxyConfig(upstreamPort: echo.port))
        let admin = try await RawHTTPConnection.connect(port: try #require(gateway.gateway.adminPort))
        try await admin.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(try await admin.readResponse()?.status == 200)
        try await admin.send("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let ready = try #require(try await admin.readResponse())
        #expect(ready.status == 200)
        #expect(ready.bodyText.contains("ready"))
        try await admin.send("GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(try await admin.readResponse()?.status == 404)
        await admin.close()

        // `tokengate health`: the probe for images without curl.
        let base = "http://127.0.0.1:\(try #require(gateway.gateway.adminPort))"
        #expect(try await runTokenGate(["health", "--admin", base]).status == 0)
        #expect(try await runTokenGate(["health", "--admin", base, "--ready"]).status == 0)
        let down = try await runTokenGate(["health", "--admin", "http://127.0.0.1:\(try await freeLoopbackPort())"])
        #expect(down.status == 1)
        #expect(down.stderr.contains("unhealthy"))
        await gateway.stop()
        await echo.stop()
    }

    @Test("POST /reload is taken from the gateway's own host only (loopback, also IPv4-mapped)")
    func reloadFromLoopbackOnly() throws {
        #expect(AdminRoutes.mayReload(from: IPAddress("127.0.0.1")))
        #expect(AdminRoutes.mayReload(from: IPAddress("::1")))
        #expect(AdminRoutes.mayReload(from: IPAddress("::ffff:127.0.0.1")))
        #expect(!AdminRoutes.mayReload(from: IPAddress("10.0.0.7")))
        #expect(!AdminRoutes.mayReload(from: IPAddress("::ffff:10.0.0.7")))
        #expect(!AdminRoutes.mayReload(from: nil))
    }
}

@Suite("tokengate token")
struct TokenCommandTests {
    @Test("describes the token without printing it, prints it with --show-token, exits 1 with the server's error")
    func tokenCommand() async throws {
        let idp = try await startSandbox(.demo)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("gateway.json", """
        { "listeners": { "egress": { "address": "127.0.0.1:0" } },
          "credentials": { "billing": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                                        "client_secret": { "env": "TG_TEST_BILLING_SECRET" }, "scope": "invoices:read" } },
          "routes": [ { "name": "b", "listener": "egress", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:1", "credential": "billing" } ] }
        """)
        let described = try await runTokenGate(["token", "billing", "--config", file], environment: ["TG_TEST_BILLING_SECRET": "demo-billing-secret"])
        #expect(described.status == 0, "\(described.stderr)")
        #expect(described.stdout.contains("token_type: Bearer"))
        #expect(described.stdout.contains("scope:      invoices:read"))
        #expect(described.stdout.contains("expires_in: 3600 s"))
        let first = try #require(idp.issuedAccessTokens.first)
        #expect(!described.stdout.contains(first) && !described.stderr.contains(first))

        let shown = try await runTokenGate(["token", "billing", "--config", file, "--show-token"], environment: ["TG_TEST_BILLING_SECRET": "demo-billing-secret"])
        let second = try #require(idp.issuedAccessTokens.last)
        #expect(shown.stdout.split(separator: "\n").last.map(String.init) == second)

        let refused = try await runTokenGate(["token", "billing", "--config", file], environment: ["TG_TEST_BILLING_SECRET": "wrong"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("token endpoint answered 401 invalid_client"))
        #expect(!refused.stderr.contains("wrong"))
        await idp.stop()
    }
}

@Suite("tokengate jwks")
struct JWKSCommandTests {
    @Test("lists the issuer's keys found by discovery; --check-token judges a token from standard input without printing it")
    func jwksCommand() async throws {
        let idp = try await JWTSetup.startSandbox()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("gateway.json", """
        { "listeners": { "main": { "address": "127.0.0.1:0" } },
          "jwt": { "idp": { "issuer": "\(idp.issuer)", "audience": "\(JWTSetup.audience)" } },
          "routes": [ { "name": "api", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:1", "validate": { "jwt": "idp" } } ] }
        """)
        let listed = try await runTokenGate(["jwks", "idp", "--config", file])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("jwks_uri:  \(idp.jwksURL)"))
        #expect(listed.stdout.contains("  \(idp.currentSigningKeyID)  EC  ES256"))
        #expect(listed.stdout.contains("max-age:   300 s"))

        let token = idp.jwtAccessToken(clientID: "demo-caller", scope: "legacy:use", subject: "alice", audience: JWTSetup.audience)
        let valid = try await runTokenGate(["jwks", "idp", "--config", file, "--check-token"], input: token + "\n")
        #expect(valid.status == 0, "\(valid.stderr)")
        #expect(valid.stdout.contains("token:     valid: sub=alice client_id=demo-caller scope=legacy:use"))
        let other = idp.jwtAccessToken(clientID: "demo-caller", scope: "legacy:use", audience: "https://elsewhere.test")
        let refused = try await runTokenGate(["jwks", "idp", "--config", file, "--check-token"], input: other)
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("token:     refused: the token is not for this audience"))
        LeakWatch.expectNoLeaks(in: valid.stdout + valid.stderr + refused.stdout + refused.stderr, "tokengate jwks output")

        let missing = try await runTokenGate(["jwks", "nope", "--config", file])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains(#"no JWT profile named "nope" (defined: idp)"#))
        await idp.stop()
    }
}

@Suite("tokengate demo")
struct DemoCommandTests {
    @Test("the walkthrough shows an injected token at the upstream, 401 without a token, 200 with identity headers, a JWT checked locally, a browser login")
    func walkthrough() async throws {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var config = try String(contentsOf: packageRoot.appendingPathComponent("gateway.json"), encoding: .utf8)
        // The shipped file's ports, moved to free ones so the test cannot collide with anything.
        for port in ["8080", "8081", "9901", "9000", "3000"] {
            config = config.replacingOccurrences(of: "127.0.0.1:\(port)", with: "127.0.0.1:\(try await freeLoopbackPort())")
        }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("gateway.json", config)
        let result = try await runTokenGate(["demo", "--config", file, "--once"])
        #expect(result.status == 0, "\(result.stderr)")
        let output = result.stdout
        #expect(output.contains("→ 200; the upstream received GET /api/invoices with Authorization: Bearer "))
        #expect(output.contains("(masked)"))
        #expect(output.contains(#"→ 401, WWW-Authenticate: Bearer realm="tokengate""#))
        #expect(output.contains("x-auth-subject: demo-caller"))
        #expect(output.contains("x-auth-scope: legacy:use"))
        #expect(output.contains("→ 200, checked locally against the issuer's keys; x-auth-subject: jwt-user"))
        #expect(output.contains("Browser login: open http://127.0.0.1:"))
        #expect(output.contains("x-auth-email: alice@example.com"))
        #expect(output.contains("(and no cookie of the gateway's: Cookie was absent)"))
        // Tokens: the billing credential and the login's code exchange; key sets: the JWT
        // profile's and the login profile's (ID tokens).
        #expect(output.contains("served 2 token request(s), 1 introspection call(s) and 2 key set fetch(es)"))
    }
}
