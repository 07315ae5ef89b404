import Foundation
import Testing
import NIOCore
import NIOPosix

/// django-oauth-toolkit, a real authorization server, run on loopback for interop tests.
/// `./scripts/test.sh` installs it into `.build-interop/venv` (from `Tests/Interop/requirements.txt`)
/// and prepares a migrated database; a missing install is a test failure, never a skip.
struct DjangoOAuthToolkit {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var python: String { packageRoot.appendingPathComponent(".build-interop/venv/bin/python").path }
    static var project: String { packageRoot.appendingPathComponent("Tests/Interop/dot").path }
    static var template: String { packageRoot.appendingPathComponent(".build-interop/template.sqlite3").path }

    /// The fixtures `setup_interop` creates.
    static let billingClient = (id: "billing-svc", secret: "interop billing:secret/+%")
    static let crmClient = (id: "legacy-crm", secret: "interop-crm-secret")
    static let user = (name: "crm-sync", password: "interop-crm-password")
    static let resourceServer = (id: "tokengate-rs", secret: "interop-rs-secret")
    static let caller = (id: "demo-caller", secret: "interop-caller-secret")
    /// The browser login client and user (`Tests/Interop/dot/interop/portal.py`).
    static let portal = (id: "legacy-portal", secret: "interop-portal-secret")
    static let alice = (name: "alice", password: "interop-alice-password")

    let process: ChildProcess
    let port: Int
    let directory: TemporaryDirectory

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var tokenURL: String { baseURL + "/o/token/" }
    var introspectionURL: String { baseURL + "/o/introspect/" }
    /// The OpenID Connect issuer identifier (discovery is under it).
    var issuer: String { baseURL + "/o" }

    struct NotInstalled: Error, CustomStringConvertible {
        var description: String { "django-oauth-toolkit is not installed in .build-interop/venv: run ./scripts/test.sh (it installs it)" }
    }

    struct DidNotStart: Error, CustomStringConvertible {
        var log: String
        var description: String { "django-oauth-toolkit did not start:\n\(log)" }
    }

    /// Starts a server with its own copy of the prepared database.
    /// With `jwtAccessTokens`, access tokens are RFC 9068 JWTs signed with the server's
    /// OpenID Connect key (`Tests/Interop/dot/interop/tokens.py`).
    static func start(tokenLifetime: Int = 2, jwtAccessTokens: Bool = false) async throws -> DjangoOAuthToolkit {
        guard FileManager.default.isExecutableFile(atPath: python) else { throw NotInstalled() }
        let directory = try TemporaryDirectory()
        let database = directory.url.appendingPathComponent("db.sqlite3").path
        let port = try await freeLoopbackPort()
        var environment = ProcessInfo.processInfo.environment
        environment["INTEROP_DB"] = database
        environment["INTEROP_TOKEN_LIFETIME"] = String(tokenLifetime)
        environment["INTEROP_ISSUER"] = "http://127.0.0.1:\(port)/o"
        if jwtAccessTokens { environment["INTEROP_JWT_ACCESS_TOKENS"] = "1" }
        if FileManager.default.fileExists(atPath: template) {
            try FileManager.default.copyItem(atPath: template, toPath: database)
        } else {
            for command in [["migrate", "-v", "0"], ["setup_interop"]] {
                let status = try await run([python, "manage.py"] + command, environment: environment)
                guard status == 0 else { throw DidNotStart(log: "manage.py \(command[0]) exited \(status)") }
            }
        }
        let log = directory.url.appendingPathComponent("server.log")
        let process = try ChildProcess(
            python, ["manage.py", "runserver", "127.0.0.1:\(port)", "--noreload"], environment: environment, directory: project,
            stdout: .file(log.path)
        )
        let server = DjangoOAuthToolkit(process: process, port: port, directory: directory)
        let up = await eventually(within: .seconds(20)) {
            (try? await RawHTTPConnection.connect(port: port).close()) != nil
        }
        guard up else {
            server.stop()
            throw DidNotStart(log: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        }
        return server
    }

    /// Stops the server (SIGKILL: nothing of it needs to be saved)
    /// that blocks SIGTERM, which Django's runserver would then never see.
    func stop() {
        if process.isRunning {
            process.signal(SIGKILL)
            process.wait()
        }
        directory.remove()
    }

    /// Tokens issued so far, by client id.
    func issuedTokens(for clientID: String) async throws -> Int {
        (try await stats()["issued"] as? [String: Int])?[clientID] ?? 0
    }

    /// Hands the suite's leak check every client secret and password of the fixtures and
    /// every access and refresh token this server issued. Call it before stopping the
    /// gateways that used this server (their logs are checked when they stop).
    /// `expectTokens`: whether the server must have issued tokens by now.
    func registerSecrets(expectTokens: Bool = true) async throws {
        LeakWatch.register([Self.billingClient.secret, Self.crmClient.secret, Self.user.password, Self.resourceServer.secret, Self.caller.secret,
                            Self.portal.secret, Self.alice.password])
        let tokens = try await stats()["tokens"] as? [String] ?? []
        #expect(!tokens.isEmpty || !expectTokens, "the interop server reported no tokens")
        LeakWatch.register(tokens)
    }

    private func stats() async throws -> [String: Any] {
        Self.json(try await RawHTTPConnection.roundTrip(port: port, "GET /interop/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
    }

    /// Asks the server whether `token` is active (RFC 7662, as the resource server client).
    func introspect(_ token: String) async throws -> [String: Any] {
        let body = "token=" + (token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token)
        let basic = Data("\(Self.resourceServer.id):\(Self.resourceServer.secret)".utf8).base64EncodedString()
        return Self.json(try await RawHTTPConnection.roundTrip(
            port: port,
            "POST /o/introspect/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic \(basic)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        ))
    }

    private static func run(_ arguments: [String], environment: [String: String]) async throws -> Int32 {
        try await runChild(arguments[0], Array(arguments.dropFirst()), environment: environment, directory: project).status
    }
}

extension DjangoOAuthToolkit {
    /// A client-credentials token for `client`, straight from the server.
    func clientCredentialsToken(_ client: (id: String, secret: String), scope: String) async throws -> String {
        let json = try await post("/o/token/", "grant_type=client_credentials&scope=" + (scope.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? scope), client: client)
        guard let token = json["access_token"] as? String else { throw DidNotStart(log: "no token: \(json)") }
        return token
    }

    /// A JWT signed with the server's active key as `signing` says (`key`, `none`, or
    /// `hs256-public`: HS256 keyed with the public key's PEM), for tests of what a real
    /// server will not issue. Registered with the leak check.
    func mintJWT(header: [String: Any] = ["typ": "at+jwt"], claims: [String: Any], signing: String = "key") async throws -> String {
        let body = try JSONSerialization.data(withJSONObject: ["header": header, "claims": claims, "signing": signing])
        let response = try await RawHTTPConnection.roundTrip(
            port: port,
            "POST /interop/jwt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n" + String(decoding: body, as: UTF8.self)
        )
        guard let token = Self.json(response)["token"] as? String else { throw DidNotStart(log: "no minted token") }
        LeakWatch.register([token])
        return token
    }

    /// Registers the browser login client for a gateway's callback and logout URLs, and the
    /// user alice; returns alice's primary key (the `sub` of her ID tokens).
    func registerPortal(redirectURI: String, postLogoutRedirectURI: String) async throws -> (clientID: String, userPK: Int) {
        let body = try JSONSerialization.data(withJSONObject: ["redirect_uri": redirectURI, "post_logout_redirect_uri": postLogoutRedirectURI])
        let response = try await RawHTTPConnection.roundTrip(
            port: port,
            "POST /interop/portal HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n" + String(decoding: body, as: UTF8.self)
        )
        let json = Self.json(response)
        guard let client = json["client_id"] as? String, let user = json["user_pk"] as? Int else { throw DidNotStart(log: "portal registration failed: \(json)") }
        return (client, user)
    }

    /// Makes a new active signing key; the old one stays in the JWKS. Returns the new kid.
    func rotateSigningKey() async throws -> String {
        let response = try await RawHTTPConnection.roundTrip(port: port, "POST /interop/rotate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        guard let kid = Self.json(response)["kid"] as? String else { throw DidNotStart(log: "no rotated key") }
        return kid
    }

    /// Revokes a token (RFC 7009) as the client it was issued to.
    func revoke(_ token: String, client: (id: String, secret: String)) async throws {
        _ = try await post("/o/revoke_token/", "token=" + token, client: client)
    }

    private func post(_ path: String, _ body: String, client: (id: String, secret: String)) async throws -> [String: Any] {
        func escape(_ text: String) -> String {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._*")
            return (text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text).replacingOccurrences(of: "%20", with: "+")
        }
        let basic = Data("\(escape(client.id)):\(escape(client.secret))".utf8).base64EncodedString()
        return Self.json(try await RawHTTPConnection.roundTrip(
            port: port,
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic \(basic)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        ))
    }

    /// A response's JSON object body ([:] when there is none).
    private static func json(_ response: TestResponse?) -> [String: Any] {
        response.flatMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] } ?? [:]
    }
}
