import Foundation

/// A browser as far as the login flow cares: it keeps cookies per host and port (ignoring
/// `Secure`, since the tests speak plain http on loopback), sends page-load headers, and
/// follows nothing by itself, so each redirect can be checked.
final class CookieBrowser: @unchecked Sendable {
    /// Cookies by "host:port", then name.
    private(set) var jar: [String: [String: String]] = [:]

    struct Page {
        var response: TestResponse
        var location: String? { response.header("location") }
    }

    /// Sends a request to an absolute `http://127.0.0.1:PORT/…` URL.
    func request(_ url: String, method: String = "GET", headers: [String: String] = ["Accept": "text/html"], body: String? = nil) async throws -> Page {
        guard let parsed = URLComponents(string: url), let port = parsed.port, let host = parsed.host else { throw BadURL(url: url) }
        let origin = "\(host):\(port)"
        var target = parsed.percentEncodedPath.isEmpty ? "/" : parsed.percentEncodedPath
        if let query = parsed.percentEncodedQuery { target += "?" + query }
        var text = "\(method) \(target) HTTP/1.1\r\nHost: \(origin)\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let cookies = jar[origin], !cookies.isEmpty {
            text += "Cookie: " + cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") + "\r\n"
        }
        if let body {
            text += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            text += "\r\n"
        }
        guard let response = try await RawHTTPConnection.roundTrip(port: port, text) else { throw BadURL(url: url) }
        for header in response.headers where header.name.lowercased() == "set-cookie" {
            let pair = header.value.split(separator: ";", maxSplits: 1)[0]
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<equals]).trimmingCharacters(in: .whitespaces)
            let value = String(pair[pair.index(after: equals)...])
            if value.isEmpty || header.value.contains("Max-Age=0") {
                jar[origin, default: [:]][name] = nil
            } else {
                jar[origin, default: [:]][name] = value
            }
        }
        return Page(response: response)
    }

    /// Resolves a `Location` against the URL it came from.
    static func resolve(_ location: String, against base: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        guard let url = URL(string: base), let scheme = url.scheme, let host = url.host, let port = url.port else { return location }
        return "\(scheme)://\(host):\(port)\(location)"
    }

    func cookies(at origin: String) -> [String: String] { jar[origin] ?? [:] }

    func setCookie(_ name: String, _ value: String?, at origin: String) { jar[origin, default: [:]][name] = value }

    struct BadURL: Error { var url: String }
}
