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
    /// `Sec-Fetch-Site` and `Origin` as the browser sent them (see `isCrossSite`).
    let fetchSite: String?
    let origin: String?

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
        fetchSite = head.headers.first(name: "sec-fetch-site")
        origin = head.headers.first(name: "origin")
    }

    /// Whether a browser says another site's page sent this request (a link, a form, an
    /// image), so that it must not change the session on its own (logout).
    var isCrossSite: Bool { Self.isCrossSite(fetchSite: fetchSite, origin: origin, base: base) }

    /// `Sec-Fetch-Site` decides when present: only `same-origin` and `none` (an address
    /// typed, a bookmark) are this site's own; `same-site` is a sibling host, which is
    /// another app. Without it (older browsers, which send `Origin` on a POST), an `Origin`
    /// other than `base`'s, `null` included, is another site. With neither the request is
    /// taken as the site's own: a client that is no browser, or a GET from a browser too
    /// old for `Sec-Fetch-*`, which cannot be told from a bookmark.
    static func isCrossSite(fetchSite: String?, origin: String?, base: String) -> Bool {
        if let fetchSite {
            return !(fetchSite.caseInsensitiveEquals("same-origin") || fetchSite.caseInsensitiveEquals("none"))
        }
        guard let origin else { return false }
        guard let theirs = RedirectTarget.origin(of: origin), let own = RedirectTarget.origin(of: base) else { return true }
        return theirs != own
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
