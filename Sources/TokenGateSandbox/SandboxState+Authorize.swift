import Crypto
import ExtrasBase64
import FoundationEssentials

/// The sandbox's browser side: an authorization endpoint with a login form (authorization
/// code with PKCE S256 required), the code exchange with an ID token, and end-session.
/// Development only: any loopback redirect URI is accepted unless the client lists its own.
extension SandboxState {
    /// A code waiting for its exchange: one use, 60 seconds.
    struct PendingCode: Sendable {
        var clientID: String
        var redirectURI: String
        var challenge: String
        var nonce: String?
        var username: String
        var scope: String
        var expiresAt: Int
    }

    /// The answer for `authorize` and `endSession`, nil for the other endpoints.
    func interactive(_ endpoint: SandboxAuthorizationServer.Endpoint, _ request: SandboxAuthorizationServer.RecordedRequest) -> SandboxResponse? {
        switch endpoint {
        case .authorize: return authorize(request)
        case .endSession: return endSession(request)
        default: return nil
        }
    }

    private func parameters(_ request: SandboxAuthorizationServer.RecordedRequest) -> [String: String] {
        var fields: [String: String] = [:]
        if let query = request.uri.split(separator: "?", maxSplits: 1).dropFirst().first {
            for (name, value) in SandboxForm.decode(String(query)) ?? [] { fields[name] = value }
        }
        if request.method == "POST" {
            for (name, value) in request.form { fields[name] = value }
        }
        return fields
    }

    private func authorize(_ request: SandboxAuthorizationServer.RecordedRequest) -> SandboxResponse {
        let fields = parameters(request)
        guard let clientID = fields["client_id"], let client = configuration.clients.first(where: { $0.id == clientID }),
              client.grants.contains("authorization_code")
        else { return page(400, "Unknown client, or a client not allowed the authorization code grant.") }
        guard let redirectURI = fields["redirect_uri"], isAllowedRedirect(redirectURI, for: client) else {
            return page(400, "The redirect_uri is not registered for this client.")
        }
        func back(_ extra: [(String, String)]) -> SandboxResponse {
            var parameters = extra
            if let state = fields["state"] { parameters.append(("state", state)) }
            parameters.append(("iss", baseURL.withLockedValue { $0 }))
            let separator = redirectURI.contains("?") ? "&" : "?"
            return SandboxResponse(status: 302, headers: [("Location", redirectURI + separator + SandboxForm.encode(parameters)), ("Cache-Control", "no-store")], body: "")
        }
        guard fields["response_type"] == "code" else { return back([("error", "unsupported_response_type")]) }
        guard let challenge = fields["code_challenge"], fields["code_challenge_method"] == "S256" else {
            return back([("error", "invalid_request"), ("error_description", "PKCE with S256 is required")])
        }
        let scope = fields["scope"] ?? "openid"
        guard request.method == "POST" else { return loginForm(fields) }
        guard let username = fields["username"], let password = fields["password"],
              configuration.users.contains(where: { $0.username == username && $0.password == password })
        else { return loginForm(fields, error: "Wrong username or password.") }
        let code = Self.randomToken()
        let pending = PendingCode(
            clientID: clientID, redirectURI: redirectURI, challenge: challenge, nonce: fields["nonce"], username: username,
            scope: scope, expiresAt: Self.now() + 60
        )
        codes.withLockedValue { codes in
            codes = codes.filter { $0.value.expiresAt > Self.now() }
            codes[code] = pending
        }
        return back([("code", code)])
    }

    private func isAllowedRedirect(_ uri: String, for client: SandboxAuthorizationServer.Client) -> Bool {
        if !client.redirectURIs.isEmpty { return client.redirectURIs.contains(uri) }
        return uri.hasPrefix("http://127.0.0.1:") || uri.hasPrefix("http://localhost:")
    }

    private func loginForm(_ fields: [String: String], error: String? = nil) -> SandboxResponse {
        let hidden = fields.filter { $0.key != "username" && $0.key != "password" }.sorted { $0.key < $1.key }
            .map { "<input type=\"hidden\" name=\"\(html($0.key))\" value=\"\(html($0.value))\">" }.joined()
        let body = """
        <!doctype html><html><head><title>Sandbox sign-in</title></head><body>
        <h1>TokenGate sandbox: sign in</h1>\(error.map { "<p id=\"error\">\(html($0))</p>" } ?? "")
        <form method="post" action="\(SandboxAuthorizationServer.Endpoint.authorize.path)">\(hidden)
        <label>Username <input name="username" id="username"></label>
        <label>Password <input name="password" id="password" type="password"></label>
        <button type="submit" id="sign-in">Sign in</button></form></body></html>
        """
        return SandboxResponse(status: error == nil ? 200 : 401, headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")], body: body)
    }

    private func page(_ status: Int, _ text: String) -> SandboxResponse {
        SandboxResponse(status: status, headers: [("Content-Type", "text/html; charset=utf-8")], body: "<!doctype html><p>\(html(text))</p>")
    }

    private func html(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }

    /// `grant_type=authorization_code`: the code, its redirect URI and the PKCE verifier.
    func exchangeCode(client: SandboxAuthorizationServer.Client, _ fields: [String: String]) -> SandboxResponse {
        guard let code = fields["code"], let redirectURI = fields["redirect_uri"], let verifier = fields["code_verifier"] else {
            return .oauthError("invalid_request", description: "code, redirect_uri and code_verifier are required")
        }
        let pending = codes.withLockedValue { codes in Self.exact(codes, code).map { codes.remove(at: $0).value } }
        guard let pending, pending.expiresAt > Self.now(), pending.clientID == client.id, pending.redirectURI == redirectURI else {
            return .oauthError("invalid_grant", description: "unknown, used or expired code")
        }
        let computed = Base64.encodeToString(bytes: Array(SHA256.hash(data: Array(verifier.utf8))), options: [.base64UrlAlphabet, .omitPaddingCharacter])
        guard computed == pending.challenge else { return .oauthError("invalid_grant", description: "PKCE verification failed") }
        let issued = issue(clientID: client.id, scope: pending.scope, username: pending.username, audience: nil, withRefresh: true)
        var response = tokenFields(issued)
        response["id_token"] = idToken(for: pending.username, clientID: client.id, nonce: pending.nonce)
        return .json(200, response)
    }

    /// An ID token for `username`, signed with the current key.
    func idToken(for username: String, clientID: String, nonce: String?) -> String {
        let now = Self.now()
        let user = configuration.users.first { $0.username == username }
        var claims: [String: Any] = [
            "iss": baseURL.withLockedValue { $0 }, "sub": username, "aud": clientID, "azp": clientID, "iat": now, "auth_time": now,
            "exp": now + 300, "sid": "sandbox-session-" + Self.randomToken().prefix(12), "preferred_username": username,
        ]
        if let nonce { claims["nonce"] = nonce }
        if let email = user?.email { claims["email"] = email }
        if let name = user?.name { claims["name"] = name }
        if let groups = user?.groups, !groups.isEmpty { claims["groups"] = groups }
        return (try? jwt.sign(header: [:], claims: claims, signing: .currentKey)) ?? ""
    }

    /// RP-initiated logout: back to `post_logout_redirect_uri` (with `state`) when given.
    private func endSession(_ request: SandboxAuthorizationServer.RecordedRequest) -> SandboxResponse {
        let fields = parameters(request)
        if let target = fields["post_logout_redirect_uri"], target.hasPrefix("http://127.0.0.1:") || target.hasPrefix("http://localhost:") {
            let separator = target.contains("?") ? "&" : "?"
            let location = fields["state"].map { target + separator + SandboxForm.encode([("state", $0)]) } ?? target
            return SandboxResponse(status: 302, headers: [("Location", location), ("Cache-Control", "no-store")], body: "")
        }
        return page(200, "You are signed out of the sandbox.")
    }
}
