import Foundation
@testable import TokenGate
import Testing
import TokenGateSandbox

/// A real gRPC server (Python's `grpcio`, `Tests/Interop/grpc_probe.py`) started for one test.
struct GRPCServer {
    let process: ChildProcess
    let port: Int

    static var script: String { DjangoOAuthToolkit.packageRoot.appendingPathComponent("Tests/Interop/grpc_probe.py").path }

    static func start() async throws -> GRPCServer {
        guard FileManager.default.isExecutableFile(atPath: DjangoOAuthToolkit.python) else { throw DjangoOAuthToolkit.NotInstalled() }
        let port = try await freeLoopbackPort()
        let process = try ChildProcess(DjangoOAuthToolkit.python, [script, "serve", "\(port)"], environment: [:], stdout: .discard)
        let server = GRPCServer(process: process, port: port)
        guard await eventually(within: .seconds(20), { (try? await RawHTTPConnection.connect(port: port).close()) != nil }) else {
            server.stop()
            throw DjangoOAuthToolkit.DidNotStart(log: "the gRPC server did not listen")
        }
        return server
    }

    func stop() {
        if process.isRunning {
            process.signal(SIGKILL)
            _ = process.wait()
        }
    }

    /// One call through `target` (`host:port`), as `grpc_probe.py call` reports it.
    /// `authority` sets `:authority` (a route matched by host; `localhost` over TLS).
    static func call(_ target: String, _ method: String, token: String? = nil, ca: String? = nil, authority: String? = nil) async throws -> GRPCCall {
        var arguments = [script, "call", target, method]
        if let token { arguments += ["--token", token] }
        if let ca { arguments += ["--ca", ca] }
        if let authority = authority ?? (ca == nil ? nil : "localhost") { arguments += ["--authority", authority] }
        let result = try await runChild(DjangoOAuthToolkit.python, arguments, environment: [:], timeout: .seconds(90))
        let line = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
        return GRPCCall(
            code: object["code"] as? String ?? "no answer: \(line) \(String(decoding: result.stderr, as: UTF8.self))",
            details: object["details"] as? String ?? "", responses: object["responses"] as? [[String: Any]] ?? []
        )
    }
}

/// What a gRPC client saw of one call.
struct GRPCCall {
    var code: String
    var details: String
    var responses: [[String: Any]]

    /// The metadata the server saw (the unary method echoes it).
    var metadataSeen: [String: String] { responses.first?["metadata"] as? [String: String] ?? [:] }
}

@Suite("gRPC services behind the gateway")
struct GRPCTests {
    @Test("ingress validating JWTs: unary and all three streaming kinds pass with a token; without one UNAUTHENTICATED, without the scope PERMISSION_DENIED; an upstream error status arrives intact")
    func ingressWithJWTs() async throws {
        let grpc = try await GRPCServer.start()
        defer { grpc.stop() }
        let idp = try await JWTSetup.startSandbox()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0", "h2c": true } }, "admin": { "address": "127.0.0.1:0" },
          "jwt": { "idp": { "issuer": "\(idp.issuer)", "audience": "\(JWTSetup.audience)" } },
          "routes": [ { "name": "echo", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\(grpc.port)/",
                        "upstream_protocol": "h2c",
                        "validate": { "jwt": "idp", "required_scopes": ["legacy:use"], "identity_headers": { "X-Auth-Subject": "sub" } } } ] }
        """
        let gateway = try await TestGateway.start(config)
        let target = "127.0.0.1:\(gateway.port())"
        let now = Int(Date().timeIntervalSince1970)
        let claims: [String: Any] = [
            "iss": idp.issuer, "sub": "alice", "aud": JWTSetup.audience, "client_id": "demo-caller", "scope": "legacy:use",
            "iat": now, "exp": now + 600, "jti": UUID().uuidString,
        ]
        let token = try idp.mintJWT(claims: claims)
        LeakWatch.register([token])

        let unary = try await GRPCServer.call(target, "unary", token: token)
        #expect(unary.code == "OK")
        #expect(unary.metadataSeen["x-auth-subject"] == "alice")
        #expect(unary.metadataSeen["authorization"] == nil)
        let serverStream = try await GRPCServer.call(target, "server-stream", token: token)
        #expect(serverStream.code == "OK")
        #expect(serverStream.responses.compactMap { $0["index"] as? Int } == [0, 1, 2, 3, 4])
        let clientStream = try await GRPCServer.call(target, "client-stream", token: token)
        #expect(clientStream.code == "OK")
        #expect(clientStream.responses.first?["messages"] as? Int == 20)
        let bidi = try await GRPCServer.call(target, "bidi", token: token)
        #expect(bidi.code == "OK")
        #expect(bidi.responses.count == 5)

        let failed = try await GRPCServer.call(target, "fail", token: token)
        #expect(failed.code == "NOT_FOUND")
        #expect(failed.details == "no such thing: 42 %")

        let anonymous = try await GRPCServer.call(target, "unary")
        #expect(anonymous.code == "UNAUTHENTICATED")
        #expect(anonymous.details.hasPrefix("unauthorized: "))
        var narrowClaims = claims
        narrowClaims["scope"] = "profile"
        narrowClaims["jti"] = UUID().uuidString
        let narrow = try await GRPCServer.call(target, "unary", token: try idp.mintJWT(claims: narrowClaims))
        #expect(narrow.code == "PERMISSION_DENIED")
        #expect(gateway.logs.accessLines.contains { $0.contains(#""path":"/tokengate.test.Echo/Unary""#) && $0.contains(#""status":401"#) })
        await gateway.stop()
        await idp.stop()
    }

    @Test("egress: a legacy gRPC client calls the gateway, which injects the bearer token into the authorization metadata; no credential is UNAVAILABLE, an unreachable upstream too, a route timeout DEADLINE_EXCEEDED")
    func egressInjectsTheToken() async throws {
        let grpc = try await GRPCServer.start()
        defer { grpc.stop() }
        let idp = try await startSandbox(.demo)
        let deadPort = try await freeLoopbackPort()
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0", "h2c": true } }, "admin": { "address": "127.0.0.1:0" },
          "credentials": { "billing": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                                        "client_secret": { "env": "BILLING_SECRET" } },
                           "broken": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                                       "client_secret": "not-the-secret" } },
          "routes": [
            { "name": "billing", "listener": "main", "match": { "path_prefix": "/tokengate.test.Echo/" }, "upstream": "http://127.0.0.1:\(grpc.port)/",
              "upstream_protocol": "h2c", "credential": "billing" },
            { "name": "broken", "listener": "main", "match": { "host": "broken.test", "path_prefix": "/tokengate.test.Echo/" }, "upstream": "http://127.0.0.1:\(grpc.port)/",
              "upstream_protocol": "h2c", "credential": "broken" },
            { "name": "down", "listener": "main", "match": { "host": "down.test", "path_prefix": "/tokengate.test.Echo/" }, "upstream": "http://127.0.0.1:\(deadPort)/",
              "upstream_protocol": "h2c", "credential": "billing" },
            { "name": "hurried", "listener": "main", "match": { "host": "hurried.test", "path_prefix": "/tokengate.test.Echo/" }, "upstream": "http://127.0.0.1:\(grpc.port)/",
              "upstream_protocol": "h2c", "credential": "billing", "timeouts": { "response_header_seconds": 0.5 } } ] }
        """
        let gateway = try await TestGateway.start(config, environment: ["BILLING_SECRET": OutboundSetup.secret])
        let target = "127.0.0.1:\(gateway.port())"
        let unary = try await GRPCServer.call(target, "unary")
        #expect(unary.code == "OK")
        let authorization = try #require(unary.metadataSeen["authorization"])
        #expect(authorization.hasPrefix("Bearer "))
        #expect(idp.issuedAccessTokens.contains(String(authorization.dropFirst("Bearer ".count))))
        #expect(try await GRPCServer.call(target, "bidi").code == "OK")

        let broken = try await GRPCServer.call(target, "unary", authority: "broken.test")
        #expect(broken.code == "UNAVAILABLE")
        let down = try await GRPCServer.call(target, "unary", authority: "down.test")
        #expect(down.code == "UNAVAILABLE")
        // The route's response timeout passes before the slow method answers.
        let late = try await GRPCServer.call(target, "slow", authority: "hurried.test")
        #expect(late.code == "DEADLINE_EXCEEDED")
        #expect(late.details.hasPrefix("upstream_timeout: "))
        await gateway.stop()
        await idp.stop()
    }
}
