import Foundation
import Testing
@testable import TokenGate

/// What the fleet tests ask of django-oauth-toolkit beyond the protocol: its token
/// endpoint's witness (`Tests/Interop/dot/interop/witness.py`: requests counted by client
/// and grant, every token it answered, a delay) and a sign-in at Django's login page
/// without a browser.
extension DjangoOAuthToolkit {
    /// The witness's report: token requests by "CLIENT_ID GRANT_TYPE", and every token issued.
    struct TokenWitness {
        var requests: [String: Int]
        var issued: [String]

        func requests(client: String, grant: String) -> Int { requests["\(client) \(grant)"] ?? 0 }
    }

    func witness() async throws -> TokenWitness {
        let answer = try await witnessCall("GET /interop/witness HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return TokenWitness(requests: answer["requests"] as? [String: Int] ?? [:], issued: answer["issued"] as? [String] ?? [])
    }

    /// Every later token request waits `seconds` before the server answers it (a slow provider).
    func setTokenDelay(_ seconds: Double) async throws {
        let body = #"{"token_delay_seconds": \#(seconds)}"#
        let answer = try await witnessCall(
            "POST /interop/witness HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        )
        #expect(answer["token_delay_seconds"] as? Double == seconds, "the witness took the delay")
    }

    private func witnessCall(_ request: String) async throws -> [String: Any] {
        let response = try #require(try await RawHTTPConnection.roundTrip(port: port, request))
        return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any], "the witness answered \(response.status)")
    }

    /// Follows an authorization request at this server for `browser`, signing alice in at
    /// Django's login page when the browser has no session here yet (`skip_authorization` is
    /// set for the portal client, so no consent page). Returns the redirect to the client's
    /// callback, not yet followed.
    func authorize(_ browser: CookieBrowser, _ authorization: String) async throws -> String {
        var next = authorization
        for _ in 0..<6 where next.hasPrefix(baseURL) {
            let page = try await browser.request(next)
            if let location = page.location {
                next = CookieBrowser.resolve(location, against: next)
                continue
            }
            let form = page.response.bodyText
            let csrf = try #require(Self.inputValue("csrfmiddlewaretoken", in: form), "a login form at \(next): \(page.response.status)")
            let returnTo = try #require(Self.inputValue("next", in: form))
            let body = ["csrfmiddlewaretoken": csrf, "username": Self.alice.name, "password": Self.alice.password, "next": returnTo]
                .map { "\($0.key)=\(FormEncoding.escape($0.value))" }.joined(separator: "&")
            let signedIn = try await browser.request(baseURL + "/accounts/login/", method: "POST", body: body)
            let location = try #require(signedIn.location, "signed in: \(signedIn.response.status) \(signedIn.response.bodyText.prefix(200))")
            next = CookieBrowser.resolve(location, against: baseURL)
        }
        #expect(!next.hasPrefix(baseURL), "the authorization ended at the client")
        return next
    }

    /// The `value` of the form input named `name`, HTML entities undone.
    private static func inputValue(_ name: String, in html: String) -> String? {
        let pattern = #"name="\#(name)" value="([^"]*)""#
        guard let range = html.range(of: pattern, options: .regularExpression) else { return nil }
        let match = html[range]
        guard let open = match.range(of: #"value=""#) else { return nil }
        return String(match[open.upperBound...].dropLast())
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#x27;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }
}
