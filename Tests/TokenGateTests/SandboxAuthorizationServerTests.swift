import Foundation
import Testing
import TokenGateSandbox

/// Form-encodes for the test side (RFC 6749 appendix B).
private func formEscape(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._*")
    return (text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text).replacingOccurrences(of: "%20", with: "+")
}

/// POSTs a form to the sandbox and parses the JSON answer.
private func post(
    _ idp: SandboxAuthorizationServer, _ endpoint: SandboxAuthorizationServer.Endpoint, _ fields: [(String, String)],
    basic: (String, String)? = nil
) async throws -> (status: Int, json: [String: Any], response: TestResponse?) {
    let body = fields.map { "\(formEscape($0.0))=\(formEscape($0.1))" }.joined(separator: "&")
    var head = "POST \(URL(string: idp.url(endpoint))!.path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
    if let basic {
        head += "Authorization: Basic \(Data("\(formEscape(basic.0)):\(formEscape(basic.1))".utf8).base64EncodedString())\r\n"
    }
    let connection = try await RawHTTPConnection.connect(port: idp.port)
    try await connection.send(head + "\r\n" + body)
    let response = try await connection.readResponse()
    await connection.close()
    let json = response.flatMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] } ?? [:]
    return (response?.status ?? 0, json, response)
}

@Suite("Sandbox authorization server")
struct SandboxAuthorizationServerTests {
    @Test("client credentials with client_secret_basic and client_secret_post")
    func clientCredentials() async throws {
        let idp = try await startSandbox(.demo)
        let basic = try await post(idp, .token, [("grant_type", "client_credentials")], basic: ("billing-svc", "demo-billing-secret"))
        #expect(basic.status == 200)
        #expect(basic.json["token_type"] as? String == "Bearer")
        #expect(basic.json["expires_in"] as? Int == 3600)
        #expect(basic.json["scope"] as? String == "invoices:read invoices:write")
        #expect((basic.json["access_token"] as? String)?.count ?? 0 >= 40)
        #expect(basic.json["refresh_token"] == nil)
        #expect(basic.response?.header("cache-control") == "no-store")

        let viaPost = try await post(idp, .token, [("grant_type", "client_credentials"), ("client_id", "billing-svc"), ("client_secret", "demo-billing-secret"), ("scope", "invoices:read")])
        #expect(viaPost.status == 200)
        #expect(viaPost.json["scope"] as? String == "invoices:read")
        #expect(idp.calls(.token) == 2)
        await idp.stop()
    }

    @Test("bad client credentials, unsupported and unauthorized grants, bad scope get RFC 6749 §5.2 errors")
    func tokenErrors() async throws {
        let idp = try await startSandbox(.demo)
        let wrongSecret = try await post(idp, .token, [("grant_type", "client_credentials")], basic: ("billing-svc", "nope"))
        #expect(wrongSecret.status == 401)
        #expect(wrongSecret.json["error"] as? String == "invalid_client")
        #expect(wrongSecret.response?.header("www-authenticate") == #"Basic realm="sandbox""#)
        let unknown = try await post(idp, .token, [("grant_type", "client_credentials"), ("client_id", "who"), ("client_secret", "x")])
        #expect(unknown.status == 401)
        let unsupported = try await post(idp, .token, [("grant_type", "implicit")], basic: ("billing-svc", "demo-billing-secret"))
        #expect(unsupported.status == 400)
        #expect(unsupported.json["error"] as? String == "unsupported_grant_type")
        let unauthorized = try await post(idp, .token, [("grant_type", "password"), ("username", "crm-sync"), ("password", "demo-crm-password")], basic: ("billing-svc", "demo-billing-secret"))
        #expect(unauthorized.json["error"] as? String == "unauthorized_client")
        let badScope = try await post(idp, .token, [("grant_type", "client_credentials"), ("scope", "admin")], basic: ("billing-svc", "demo-billing-secret"))
        #expect(badScope.json["error"] as? String == "invalid_scope")
        let twoMethods = try await post(idp, .token, [("grant_type", "client_credentials"), ("client_secret", "demo-billing-secret")], basic: ("billing-svc", "demo-billing-secret"))
        #expect(twoMethods.json["error"] as? String == "invalid_request")
        await idp.stop()
    }

    @Test("password grant issues a refresh token; refresh rotates it; a used refresh token is invalid_grant")
    func passwordAndRefresh() async throws {
        let idp = try await startSandbox(.demo)
        let crm = ("legacy-crm", "demo-crm-secret")
        let bad = try await post(idp, .token, [("grant_type", "password"), ("username", "crm-sync"), ("password", "wrong")], basic: crm)
        #expect(bad.json["error"] as? String == "invalid_grant")
        let first = try await post(idp, .token, [("grant_type", "password"), ("username", "crm-sync"), ("password", "demo-crm-password")], basic: crm)
        let refresh = try #require(first.json["refresh_token"] as? String)
        let second = try await post(idp, .token, [("grant_type", "refresh_token"), ("refresh_token", refresh)], basic: crm)
        #expect(second.status == 200)
        let rotated = try #require(second.json["refresh_token"] as? String)
        #expect(rotated != refresh)
        let reused = try await post(idp, .token, [("grant_type", "refresh_token"), ("refresh_token", refresh)], basic: crm)
        #expect(reused.json["error"] as? String == "invalid_grant")
        await idp.stop()
    }

    @Test("introspection answers claims for an active token, active:false for unknown and revoked ones, and refuses non-resource-servers")
    func introspectionAndRevocation() async throws {
        let idp = try await startSandbox(.demo)
        let rs = ("tokengate-rs", "demo-introspection-secret")
        let token = idp.issueToken(clientID: "demo-caller", scope: "legacy:use", username: "alice", audience: "legacy-app")
        let active = try await post(idp, .introspection, [("token", token)], basic: rs)
        #expect(active.json["active"] as? Bool == true)
        #expect(active.json["sub"] as? String == "alice")
        #expect(active.json["username"] as? String == "alice")
        #expect(active.json["client_id"] as? String == "demo-caller")
        #expect(active.json["scope"] as? String == "legacy:use")
        #expect(active.json["aud"] as? String == "legacy-app")
        #expect((active.json["exp"] as? Int ?? 0) > (active.json["iat"] as? Int ?? Int.max))
        #expect(try await post(idp, .introspection, [("token", "garbage")], basic: rs).json["active"] as? Bool == false)
        let notRS = try await post(idp, .introspection, [("token", token)], basic: ("billing-svc", "demo-billing-secret"))
        #expect(notRS.status == 403)
        #expect(try await post(idp, .revocation, [("token", token)], basic: rs).status == 200)
        #expect(try await post(idp, .introspection, [("token", token)], basic: rs).json["active"] as? Bool == false)
        #expect(idp.calls(.introspection) == 4)
        #expect(idp.calls(.revocation) == 1)
        await idp.stop()
    }

    @Test("faults: fixed status with Retry-After, malformed JSON, OAuth error, reset, delay; a counted fault clears itself")
    func faults() async throws {
        let idp = try await startSandbox(.demo)
        let client = ("billing-svc", "demo-billing-secret")
        let form = [("grant_type", "client_credentials")]

        idp.setFault(.status(429, retryAfter: 7), on: .token, times: 1)
        let limited = try await post(idp, .token, form, basic: client)
        #expect(limited.status == 429)
        #expect(limited.response?.header("retry-after") == "7")
        #expect(try await post(idp, .token, form, basic: client).status == 200, "a fault set for one call clears itself")

        idp.setFault(.malformedJSON, on: .token)
        let garbled = try await post(idp, .token, form, basic: client)
        #expect(garbled.status == 200)
        #expect(garbled.json.isEmpty)

        idp.setFault(.oauthError("invalid_client", status: 401), on: .token)
        #expect(try await post(idp, .token, form, basic: client).json["error"] as? String == "invalid_client")

        idp.setFault(.connectionReset, on: .token)
        let reset = try await post(idp, .token, form, basic: client)
        #expect(reset.response == nil)

        idp.setFault(.delay(.milliseconds(300)), on: .token)
        let started = ContinuousClock.now
        #expect(try await post(idp, .token, form, basic: client).status == 200)
        #expect(ContinuousClock.now - started >= .milliseconds(300))

        idp.setFault(nil, on: .token)
        #expect(idp.calls(.token) == 6)
        #expect(idp.requests(.token).count == 6)
        #expect(idp.requests(.token)[0].formValue("grant_type") == "client_credentials")
        await idp.stop()
    }
}
