import NIOHTTP1

/// What a login route needs to know about a request, gathered by the planner (only on
/// login routes): its path, its query, the gateway's cookies, the base URL the browser
/// used, and whether it is an API call or a page load. A class: the plan that carries it
/// is copied per request, and a reference keeps that copy small on every route.
final class LoginRequest: Sendable {
    /// The normalised path (reserved endpoints, public paths).
    let path: String
    let query: String?
    /// The path and query as the client sent them: where to come back after login.
    let target: String
    /// The gateway's own cookies, by name.
    let cookies: [String: String]
    /// `scheme://host[:port]` as the browser sees the site.
    let base: String
    /// A script's call rather than a page load (401, never a redirect to a login page).
    let isAPICall: Bool
    /// The request carries `Authorization: Bearer`.
    let hasBearer: Bool
    let method: HTTPMethod

    init(head: HTTPRequestHead, path: String, query: String?, authority: String, forwardedProto: String?, login: LoginProfile) {
        self.path = path
        self.query = query
        self.target = query.map { path + "?" + $0 } ?? path
        self.cookies = login.cookies.read(head.headers["cookie"])
        if let external = login.config.externalURL {
            self.base = "\(external.scheme.rawValue)://\(external.authority)"
        } else {
            let scheme = forwardedProto.map { $0.lowercased() == "https" ? "https" : "http" } ?? "https"
            self.base = "\(scheme)://\(authority)"
        }
        isAPICall = Self.isAPICall(head)
        hasBearer = head.headers["authorization"].contains { $0.lowercased().hasPrefix("bearer ") }
        method = head.method
    }

    /// Script calls: `X-Requested-With`, a fetch that is not a navigation
    /// (`Sec-Fetch-Mode`), a method other than GET/HEAD, or an `Accept` without HTML.
    static func isAPICall(_ head: HTTPRequestHead) -> Bool {
        if head.method != .GET && head.method != .HEAD { return true }
        if !head.headers["x-requested-with"].isEmpty { return true }
        if let mode = head.headers.first(name: "sec-fetch-mode") {
            return mode.lowercased() != "navigate"
        }
        if let destination = head.headers.first(name: "sec-fetch-dest"), !["document", "iframe", "frame"].contains(destination.lowercased()) {
            return true
        }
        let accept = head.headers["accept"].joined(separator: ",").lowercased()
        return !(accept.isEmpty || accept.contains("text/html") || accept.contains("*/*") && !accept.contains("application/json"))
    }

    /// A query parameter's decoded value.
    func parameter(_ name: String) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return FormEncoding.decode(parts[1])
        }
        return nil
    }
}
