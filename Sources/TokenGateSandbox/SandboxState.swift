import FoundationEssentials
import NIOConcurrencyHelpers

/// Everything the sandbox knows, behind one lock: clients, issued tokens, faults, counters.
final class SandboxState: Sendable {
    struct TokenRecord {
        var clientID: String
        var username: String?
        var scope: String
        var audience: String?
        var issuedAt: Int
        var expiresAt: Int
        var active: Bool
    }

    struct Issued {
        var accessToken: String
        var refreshToken: String?
        var record: TokenRecord
    }

    private struct Mutable {
        var accessTokens: [String: TokenRecord] = [:]
        var accessTokenOrder: [String] = []
        /// Every refresh token issued, rotated-out ones included.
        var refreshTokenOrder: [String] = []
        /// refresh token → (client, user, scope)
        var refreshTokens: [String: (clientID: String, username: String?, scope: String)] = [:]
        var faults: [SandboxAuthorizationServer.Endpoint: (fault: SandboxAuthorizationServer.Fault, remaining: Int?)] = [:]
        var calls: [SandboxAuthorizationServer.Endpoint: Int] = [:]
        var requests: [SandboxAuthorizationServer.Endpoint: [SandboxAuthorizationServer.RecordedRequest]] = [:]
    }

    let configuration: SandboxAuthorizationServer.Configuration
    private let mutable = NIOLockedValueBox(Mutable())
    /// Signing keys and JWT making.
    let jwt = SandboxJWTIssuer()
    /// `http://127.0.0.1:PORT`, the `iss` of its JWTs, set once the server is bound.
    let baseURL = NIOLockedValueBox("")
    /// Authorization codes waiting for their exchange.
    let codes = NIOLockedValueBox<[String: PendingCode]>([:])

    init(configuration: SandboxAuthorizationServer.Configuration) {
        self.configuration = configuration
    }

    func setFault(_ fault: SandboxAuthorizationServer.Fault?, on endpoint: SandboxAuthorizationServer.Endpoint, times: Int?) {
        mutable.withLockedValue { $0.faults[endpoint] = fault.map { ($0, times) } }
    }

    func calls(_ endpoint: SandboxAuthorizationServer.Endpoint) -> Int { mutable.withLockedValue { $0.calls[endpoint] ?? 0 } }

    func requests(_ endpoint: SandboxAuthorizationServer.Endpoint) -> [SandboxAuthorizationServer.RecordedRequest] {
        mutable.withLockedValue { $0.requests[endpoint] ?? [] }
    }

    var issuedAccessTokens: [String] { mutable.withLockedValue { $0.accessTokenOrder } }

    var issuedRefreshTokens: [String] { mutable.withLockedValue { $0.refreshTokenOrder } }

    func revoke(_ token: String) {
        mutable.withLockedValue { state in
            if let index = Self.exact(state.accessTokens, token) { state.accessTokens.values[index].active = false }
            if let index = Self.exact(state.refreshTokens, token) { _ = state.refreshTokens.remove(at: index) }
        }
    }

    /// Where `token` is in `table`, only for a key with exactly its bytes: a `String` key
    /// matches by canonical equivalence (`K` and U+212A KELVIN SIGN are one character),
    /// and no real authorization server takes a different spelling for its token.
    static func exact<Value>(_ table: [String: Value], _ token: String) -> [String: Value].Index? {
        guard let index = table.index(forKey: token), table[index].key.utf8.elementsEqual(token.utf8) else { return nil }
        return index
    }

    static func now() -> Int { Int(Date().timeIntervalSince1970) }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return String(Data(bytes).base64EncodedString().compactMap { character -> Character? in
            switch character {
            case "+": return "-"
            case "/": return "_"
            case "=": return nil
            default: return character
            }
        })
    }

    func issue(clientID: String, scope: String, username: String?, audience: String?, lifetime: Duration? = nil, withRefresh: Bool = false) -> Issued {
        let now = Self.now()
        let seconds = Int((lifetime ?? configuration.accessTokenLifetime).components.seconds)
        let record = TokenRecord(clientID: clientID, username: username, scope: scope, audience: audience, issuedAt: now, expiresAt: now + seconds, active: true)
        let access = jwtClient(clientID) ? jwtAccessToken(record) : Self.randomToken()
        let refresh = withRefresh ? Self.randomToken() : nil
        mutable.withLockedValue { state in
            state.accessTokens[access] = record
            state.accessTokenOrder.append(access)
            if let refresh {
                state.refreshTokens[refresh] = (clientID, username, scope)
                state.refreshTokenOrder.append(refresh)
            }
        }
        return Issued(accessToken: access, refreshToken: refresh, record: record)
    }

    /// Counts and records the request, and returns the fault to apply, if any.
    func arrive(_ endpoint: SandboxAuthorizationServer.Endpoint, _ request: SandboxAuthorizationServer.RecordedRequest) -> SandboxAuthorizationServer.Fault? {
        mutable.withLockedValue { state in
            state.calls[endpoint, default: 0] += 1
            state.requests[endpoint, default: []].append(request)
            if state.requests[endpoint, default: []].count > 1000 { state.requests[endpoint]?.removeFirst() }
            guard let entry = state.faults[endpoint], entry.fault.applies(to: request) else { return nil }
            if let remaining = entry.remaining {
                state.faults[endpoint] = remaining <= 1 ? nil : (entry.fault, remaining - 1)
            }
            return entry.fault
        }
    }

    // MARK: Endpoints

    func handle(_ endpoint: SandboxAuthorizationServer.Endpoint, _ request: SandboxAuthorizationServer.RecordedRequest) -> SandboxResponse {
        var delay: Duration?
        switch arrive(endpoint, request) {
        case .delay(let pause)?: delay = pause
        case .status(let status, let retryAfter)?:
            var response = SandboxResponse.json(status, ["error": "server_error"])
            if let retryAfter { response.headers.append(("Retry-After", String(retryAfter))) }
            return response
        case .malformedJSON?:
            return SandboxResponse(status: 200, body: "{\"access_token\": \"truncated")
        case .body(let text)?:
            return SandboxResponse(status: 200, body: text)
        case .connectionReset?:
            return SandboxResponse(status: 0, body: "", reset: true)
        case .oauthError(let code, let status)?:
            return .oauthError(code, status: status)
        case .refreshRefusedWithoutBody(let status)?:
            return SandboxResponse(status: status, headers: [("Cache-Control", "no-store")], body: "")
        case nil:
            break
        }
        var response = answer(endpoint, request)
        response.delay = delay
        return response
    }

    private func answer(_ endpoint: SandboxAuthorizationServer.Endpoint, _ request: SandboxAuthorizationServer.RecordedRequest) -> SandboxResponse {
        if let metadata = metadata(endpoint, request) { return metadata }
        if let interactive = interactive(endpoint, request) { return interactive }
        guard request.method == "POST" else { return .oauthError("invalid_request", status: 405, description: "use POST") }
        guard request.header("content-type")?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
            return .oauthError("invalid_request", description: "body must be application/x-www-form-urlencoded")
        }
        guard let form = SandboxForm.decode(request.body) else { return .oauthError("invalid_request", description: "malformed form body") }
        var fields: [String: String] = [:]
        for (name, value) in form {
            if fields[name] != nil { return .oauthError("invalid_request", description: "parameter \(name) repeated") }
            fields[name] = value
        }
        let client: SandboxAuthorizationServer.Client
        switch authenticate(request, fields) {
        case .success(let value): client = value
        case .failure(let response): return response
        }
        switch endpoint {
        case .token: return token(client: client, fields)
        case .introspection: return introspect(client: client, fields)
        case .revocation:
            if let token = fields["token"] { revoke(token) }
            return SandboxResponse(status: 200, body: "")
        case .jwks, .discovery, .metadata, .authorize, .endSession:
            return .oauthError("invalid_request", status: 405, description: "use GET")
        }
    }

    private enum AuthenticationResult {
        case success(SandboxAuthorizationServer.Client)
        case failure(SandboxResponse)
    }

    /// RFC 6749 §2.3.1: HTTP Basic with form-encoded id and secret, or both in the body; never both ways.
    private func authenticate(_ request: SandboxAuthorizationServer.RecordedRequest, _ fields: [String: String]) -> AuthenticationResult {
        var id: String?
        var secret: String?
        let usedBasic: Bool
        if let authorization = request.header("authorization"), authorization.lowercased().hasPrefix("basic ") {
            usedBasic = true
            guard let decoded = Data(base64Encoded: authorization.dropFirst(6).trimmingSpaces),
                  let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                  let user = SandboxForm.unescape(text[..<colon]), let password = SandboxForm.unescape(text[text.index(after: colon)...]) else {
                return .failure(invalidClient(basic: true))
            }
            if fields["client_secret"] != nil {
                return .failure(.oauthError("invalid_request", description: "more than one client authentication method"))
            }
            id = user
            secret = password
        } else {
            usedBasic = false
            id = fields["client_id"]
            secret = fields["client_secret"]
        }
        guard let id, let secret, let client = configuration.clients.first(where: { $0.id == id }), client.secret == secret else {
            return .failure(invalidClient(basic: usedBasic))
        }
        return .success(client)
    }

    private func invalidClient(basic: Bool) -> SandboxResponse {
        var response = SandboxResponse.oauthError("invalid_client", status: 401, description: "client authentication failed")
        if basic { response.headers.append(("WWW-Authenticate", "Basic realm=\"sandbox\"")) }
        return response
    }

    private func token(client: SandboxAuthorizationServer.Client, _ fields: [String: String]) -> SandboxResponse {
        guard let grant = fields["grant_type"] else { return .oauthError("invalid_request", description: "grant_type is missing") }
        if grant == "authorization_code" {
            guard client.grants.contains(grant) else { return .oauthError("unauthorized_client") }
            return exchangeCode(client: client, fields)
        }
        guard ["client_credentials", "password", "refresh_token"].contains(grant) else {
            return .oauthError("unsupported_grant_type")
        }
        guard client.grants.contains(grant) else { return .oauthError("unauthorized_client") }
        let audience = fields["audience"] ?? fields["resource"]
        switch grant {
        case "client_credentials":
            guard let scope = grantedScope(client, fields["scope"]) else { return .oauthError("invalid_scope") }
            return tokenResponse(issue(clientID: client.id, scope: scope, username: nil, audience: audience))
        case "password":
            guard let username = fields["username"], let password = fields["password"] else {
                return .oauthError("invalid_request", description: "username and password are required")
            }
            guard configuration.users.contains(where: { $0.username == username && $0.password == password }) else {
                return .oauthError("invalid_grant", description: "bad resource owner credentials")
            }
            guard let scope = grantedScope(client, fields["scope"]) else { return .oauthError("invalid_scope") }
            return tokenResponse(issue(clientID: client.id, scope: scope, username: username, audience: audience, withRefresh: true))
        default:
            guard let presented = fields["refresh_token"] else { return .oauthError("invalid_request", description: "refresh_token is missing") }
            // Rotation: a refresh token works once.
            let grantRecord = mutable.withLockedValue { state -> (clientID: String, username: String?, scope: String)? in
                guard let index = Self.exact(state.refreshTokens, presented), state.refreshTokens[index].value.clientID == client.id else { return nil }
                return state.refreshTokens.remove(at: index).value
            }
            guard let grantRecord else { return .oauthError("invalid_grant", description: "unknown or used refresh token") }
            return tokenResponse(issue(clientID: client.id, scope: grantRecord.scope, username: grantRecord.username, audience: audience, withRefresh: true))
        }
    }

    private func grantedScope(_ client: SandboxAuthorizationServer.Client, _ requested: String?) -> String? {
        guard let requested, !requested.isEmpty else { return client.scopes.joined(separator: " ") }
        let wanted = requested.split(separator: " ").map(String.init)
        return wanted.allSatisfy(client.scopes.contains) ? wanted.joined(separator: " ") : nil
    }

    private func tokenResponse(_ issued: Issued) -> SandboxResponse {
        .json(200, tokenFields(issued))
    }

    /// A token response's fields (RFC 6749 §5.1).
    func tokenFields(_ issued: Issued) -> [String: Any] {
        var object: [String: Any] = ["access_token": issued.accessToken, "token_type": configuration.tokenType, "scope": issued.record.scope]
        if configuration.sendsExpiresIn { object["expires_in"] = issued.record.expiresAt - issued.record.issuedAt }
        if let refresh = issued.refreshToken { object["refresh_token"] = refresh }
        return object
    }

    private func introspect(client: SandboxAuthorizationServer.Client, _ fields: [String: String]) -> SandboxResponse {
        guard client.mayIntrospect else { return .oauthError("unauthorized_client", status: 403, description: "not a resource server") }
        guard let token = fields["token"] else { return .oauthError("invalid_request", description: "token is missing") }
        let record = mutable.withLockedValue { state in Self.exact(state.accessTokens, token).map { state.accessTokens[$0].value } }
        guard let record, record.active, record.expiresAt > Self.now() else { return .json(200, ["active": false]) }
        var object: [String: Any] = [
            "active": true, "scope": record.scope, "client_id": record.clientID, "sub": record.username ?? record.clientID,
            "exp": record.expiresAt, "iat": record.issuedAt, "iss": configuration.issuer, "token_type": "Bearer",
        ]
        if let username = record.username { object["username"] = username }
        if let audience = record.audience { object["aud"] = audience }
        return .json(200, object)
    }
}

extension Substring {
    /// Without leading and trailing spaces.
    var trimmingSpaces: String {
        var view = self
        while view.first == " " { view = view.dropFirst() }
        while view.last == " " { view = view.dropLast() }
        return String(view)
    }
}
