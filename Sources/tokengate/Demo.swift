import ArgumentParser
import AsyncHTTPClient
import FoundationEssentials
import Synchronization
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import TokenGate
import TokenGateSandbox

/// `tokengate demo`: the whole job in one command, with no outside services. Starts the
/// sandbox authorization server and echo upstream on the loopback ports `gateway.json`
/// points at, runs the real gateway on that file, walks through one egress and two
/// ingress calls, then stays up for you to try until Ctrl-C.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway with a sandbox authorization server and echo upstream, and show what it does."
    )

    @OptionGroup var configOptions: ConfigOptions

    @Flag(name: .long, help: "Exit after the walkthrough instead of staying up.")
    var once = false

    func run() async throws {
        let loaded = try configOptions.load()
        let config = loaded.config
        guard let egressRoute = config.routes.first(where: { $0.credential != nil }),
              let ingressRoute = config.routes.first(where: { $0.validate != nil }),
              let profile = config.credential(named: egressRoute.credential ?? ""),
              let egress = config.listener(named: egressRoute.listener), let ingress = config.listener(named: ingressRoute.listener) else {
            printToStandardError("the demo needs a route with \"credential\" and a route with \"validate\" (the shipped gateway.json has both)")
            throw ExitCode(2)
        }
        var sandboxConfiguration = SandboxAuthorizationServer.Configuration.demo
        sandboxConfiguration.accessTokenLifetime = .seconds(3600)
        let idp = try await SandboxAuthorizationServer.start(sandboxConfiguration, port: profile.tokenURL.port)
        let echo = try await EchoUpstream.start(port: ingressRoute.upstream.port)
        var logger = Logger(label: "tokengate") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        logger.logLevel = .warning
        // Access log lines are held back during the walkthrough and shown as its last step,
        // then written to standard output as `tokengate run` does.
        let accessLines = Mutex<[String]?>([])
        let accessLog = AccessLogWriter(outputIsTerminal: false) { bytes in
            let held = accessLines.withLock { lines -> Bool in
                guard lines != nil else { return false }
                lines?.append(String(decoding: bytes, as: UTF8.self))
                return true
            }
            if !held { FileDescriptorOutput.write(bytes, to: 1) }
        }
        let gateway: Gateway
        do {
            gateway = try await Gateway.start(loaded, logger: logger, telemetry: Telemetry(accessLog: accessLog))
        } catch {
            await echo.stop()
            await idp.stop()
            printToStandardError("error: \(error)")
            throw ExitCode(1)
        }

        let http = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton))
        let egressBase = "http://\(egress.address.host):\(gateway.port(ofListener: egress.name) ?? egress.address.port)"
        let ingressBase = "http://\(ingress.address.host):\(gateway.port(ofListener: ingress.name) ?? ingress.address.port)"
        let egressPath = egressRoute.pathPrefix + "invoices"
        print("""
        TokenGate demo (development only: the authorization server and upstream are sandboxes)
          authorization server  \(idp.baseURL)
          echo upstream         http://127.0.0.1:\(echo.port)
          gateway               egress \(egressBase), ingress \(ingressBase), admin http://\(config.admin.address)

        """)

        // 1. Egress: a service that knows nothing about OAuth calls the gateway.
        let first = try await fetch(http, egressBase + egressPath)
        let seen = echoReport(first.body)
        print("1. Egress: the service calls GET \(egressBase)\(egressPath) with no credentials")
        print("   → \(first.status); the upstream received \(seen.method) \(seen.path) with Authorization: \(masked(header("authorization", in: seen)))")

        // 2. Ingress without a token.
        let refused = try await fetch(http, ingressBase + "/orders")
        print("2. Ingress without a token: GET \(ingressBase)/orders")
        print("   → \(refused.status), WWW-Authenticate: \(refused.headers.first(name: "www-authenticate") ?? "-")")

        // 3. Ingress with a caller's token.
        let callerToken = idp.issueToken(clientID: "demo-caller", scope: "legacy:use")
        let accepted = try await fetch(http, ingressBase + "/orders", bearer: callerToken)
        let identity = echoReport(accepted.body)
        print("3. Ingress with a caller's token (scope legacy:use): GET \(ingressBase)/orders")
        print("   → \(accepted.status); identity headers the upstream saw:")
        for name in ["x-auth-subject", "x-auth-scope", "x-auth-client-id"] {
            print("     \(name): \(header(name, in: identity))")
        }
        print("   (the caller's own Authorization header was \(header("authorization", in: identity) == "-" ? "not forwarded" : "forwarded"))")
        var step = 4
        if let jwtProfile = ingressRoute.validate?.jwt.flatMap(config.jwtProfile(named:)) {
            // A JWT access token: checked against the issuer's published keys, locally.
            let jwt = idp.jwtAccessToken(clientID: "demo-jwt-caller", scope: "legacy:use", subject: "jwt-user", audience: jwtProfile.audiences.first)
            let local = try await fetch(http, ingressBase + "/orders", bearer: jwt)
            print("\(step). Ingress with a JWT access token (RFC 9068, signed by \(jwtProfile.issuer)): GET \(ingressBase)/orders")
            print("   → \(local.status), checked locally against the issuer's keys; x-auth-subject: \(header("x-auth-subject", in: echoReport(local.body)))")
            step += 1
        }
        if let portalRoute = config.routes.first(where: { $0.login != nil }), let portalListener = config.listener(named: portalRoute.listener) {
            // A browser's login, done here by hand the way a browser would.
            let origin = "http://\(portalListener.address.host):\(gateway.port(ofListener: portalListener.name) ?? portalListener.address.port)"
            let noRedirects = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: .init(redirectConfiguration: .disallow))
            var browser = DemoBrowser(http: noRedirects)
            let landed = try await browser.logIn(at: origin + portalRoute.pathPrefix, origin: origin, username: "alice", password: "demo-alice-password")
            let seenByApp = echoReport(Data(landed.body))
            print("\(step). Browser login: open \(origin)\(portalRoute.pathPrefix) in a browser and sign in as alice / demo-alice-password.")
            print("   Done here by hand (redirect to the sandbox's login form, sign in, callback, back): → \(landed.status); the app saw:")
            for name in ["x-auth-subject", "x-auth-email", "x-auth-name", "x-auth-groups"] {
                print("     \(name): \(header(name, in: seenByApp))")
            }
            print("   (and no cookie of the gateway's: Cookie was \(header("cookie", in: seenByApp) == "-" ? "absent" : header("cookie", in: seenByApp)))")
            try? await noRedirects.shutdown()
            step += 1
        }
        print("\(step). The authorization server served \(idp.calls(.token)) token request(s), \(idp.calls(.introspection)) introspection call(s) and \(idp.calls(.jwks)) key set fetch(es).")
        try? await http.shutdown()
        try? await Task.sleep(for: .milliseconds(50))
        let lines = accessLines.withLock { lines in
            defer { lines = nil }
            return lines ?? []
        }
        print("\(step + 1). The access log (standard output, one JSON line per request; tokens never appear):")
        for line in lines.joined().split(separator: "\n") { print("   \(line)") }

        if !once {
            print("""

            Try it yourself:
              curl -s \(egressBase)\(egressPath)
              TOKEN=$(curl -s -u demo-caller:demo-caller-secret -d grant_type=client_credentials -d scope=legacy:use \(idp.tokenURL) | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
              curl -s -H "Authorization: Bearer $TOKEN" \(ingressBase)/orders
              JWT=$(curl -s -u demo-jwt-caller:demo-jwt-caller-secret -d grant_type=client_credentials -d scope=legacy:use \(idp.tokenURL) | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
              curl -s -H "Authorization: Bearer $JWT" \(ingressBase)/orders
              curl -s http://\(config.admin.address)/readyz
              curl -s http://\(config.admin.address)/metrics | grep ^tokengate_
              tokengate status --admin http://\(config.admin.address)
            Ctrl-C stops everything.
            """)
            await waitForTermination()
        }
        await gateway.shutdown(grace: .seconds(2))
        await echo.stop()
        await idp.stop()
    }

    private struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: Data
    }

    private func fetch(_ http: HTTPClient, _ url: String, bearer: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Data(body.readableBytesView))
    }

    /// What the echo upstream reports having received.
    private struct EchoSeen: Decodable {
        var method = "?"
        var path = "?"
        var headers: [[String]] = []
    }

    private func echoReport(_ body: Data) -> EchoSeen {
        (try? JSONDecoder().decode(EchoSeen.self, from: body)) ?? EchoSeen()
    }

    private func header(_ name: String, in report: EchoSeen) -> String {
        report.headers.first { $0.count == 2 && $0[0].lowercased() == name }?[1] ?? "-"
    }

    /// `Bearer abcd…wxyz`: enough to see a token arrived, not enough to use it.
    private func masked(_ value: String) -> String {
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[1].count > 8 else { return value == "-" ? value : "<masked>" }
        return "\(parts[0]) \(parts[1].prefix(4))…\(parts[1].suffix(4)) (masked)"
    }
}
