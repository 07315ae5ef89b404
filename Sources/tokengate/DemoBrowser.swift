import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOHTTP1

/// The demo's stand-in for a browser at the login step: it keeps cookies and follows
/// redirects one by one, and fills in the sandbox's login form.
struct DemoBrowser {
    let http: HTTPClient
    private var cookies: [String: String] = [:]

    init(http: HTTPClient) { self.http = http }

    struct Answer {
        var status: Int
        var location: String?
        var body: [UInt8]
    }

    mutating func send(_ url: String, method: HTTPMethod = .GET, form: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "text/html")
        if !cookies.isEmpty { request.headers.add(name: "Cookie", value: cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")) }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await http.execute(request, timeout: .seconds(10))
        for value in response.headers["set-cookie"] {
            let pair = value.split(separator: ";", maxSplits: 1)[0]
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<equals])
            let cookie = String(pair[pair.index(after: equals)...])
            cookies[name] = cookie.isEmpty || value.contains("Max-Age=0") ? nil : cookie
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), location: response.headers.first(name: "location"), body: Array(body.readableBytesView))
    }

    /// Logs in at `page` as the sandbox user and returns the page's final answer.
    mutating func logIn(at page: String, origin: String, username: String, password: String) async throws -> Answer {
        let first = try await send(page)
        guard first.status == 302, let authorize = first.location, let query = authorize.split(separator: "?", maxSplits: 1).last else { return first }
        let loginForm = String(authorize.split(separator: "?", maxSplits: 1)[0])
        let signedIn = try await send(loginForm, method: .POST, form: String(query) + "&username=\(username)&password=\(password)")
        guard signedIn.status == 302, let callback = signedIn.location else { return signedIn }
        let landed = try await send(callback)
        guard landed.status == 302, let back = landed.location else { return landed }
        return try await send(back.hasPrefix("/") ? origin + back : back)
    }
}
