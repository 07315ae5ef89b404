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
    /// Deletions for the cookies of names before the profile tag the request carried
    /// (`LoginCookies.legacyDeletions`; almost always empty): every response the gateway
    /// shapes on a login route adds them, so an upgrade leaves no dead session behind.
    let legacyDeletions: [(name: String, value: String)]
    /// `scheme://host[:port]` as the browser sees the site.
    let base: String
    /// A script's call rather than a page load (401, never a redirect to a login page).
    let isAPICall: Bool
    /// The request carries `Authorization: Bearer`.
    let hasBearer: Bool
    let method: HTTPMethod
    /// `Sec-Fetch-Site`, `Origin` and `Referer` as the browser sent them (see `isCrossSite`).
    let fetchSite: String?
    let origin: String?
    let referer: String?

    init(head: HTTPRequestHead, path: String, query: String?, authority: String, forwardedProto: String?, login: LoginProfile) {
        self.path = path
        self.query = query
        self.target = query.map { path + "?" + $0 } ?? path
        let cookieHeaders = head.headers["cookie"]
        self.cookies = login.cookies.read(cookieHeaders)
        self.legacyDeletions = login.cookies.legacyDeletions(cookieHeaders)
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
        referer = head.headers.first(name: "referer")
    }

    /// Whether a browser says another site's page sent this request (a link, a form, an
    /// image), so that it must not change the session on its own (logout).
    var isCrossSite: Bool { Self.isCrossSite(fetchSite: fetchSite, origin: origin, referer: referer, base: base) }

    /// `Sec-Fetch-Site` decides when present: only `same-origin` and `none` (an address
    /// typed, a bookmark) are this site's own; `same-site` is a sibling host, which is
    /// another app. Without it (older browsers, which send `Origin` on a POST), an `Origin`
    /// other than `base`'s, `null` included, is another site. With neither, on a site
    /// browsers send `Sec-Fetch-*` to (https or loopback, `sendsFetchMetadata`) the request
    /// is taken as the site's own: a client that is no browser, or a GET from a browser too
    /// old for `Sec-Fetch-*`, which cannot be told from a bookmark. On a plain-http site
    /// elsewhere every browser leaves both out, so a cross-site link would pass for the
    /// site's own: there only a `Referer` of `base`'s origin makes it so (a link on the
    /// site's pages); without one, or with another, the request is another site's.
    static func isCrossSite(fetchSite: String?, origin: String?, referer: String? = nil, base: String) -> Bool {
        if let fetchSite {
            return !(fetchSite.caseInsensitiveEquals("same-origin") || fetchSite.caseInsensitiveEquals("none"))
        }
        let sender: String
        if let origin {
            sender = origin
        } else if sendsFetchMetadata(base) {
            return false
        } else {
            // A missing `Referer` is "" here: no origin, so another site's.
            sender = referer ?? ""
        }
        guard let theirs = RedirectTarget.origin(of: sender), let own = RedirectTarget.origin(of: base) else { return true }
        return theirs != own
    }

    /// Whether browsers send `Sec-Fetch-*` to `base`: a potentially trustworthy origin
    /// (W3C Secure Contexts §3.1), that is https or a loopback host (`localhost`,
    /// `*.localhost`, 127.0.0.0/8, `[::1]`).
    static func sendsFetchMetadata(_ base: String) -> Bool {
        guard let own = RedirectTarget.origin(of: base) else { return false }
        if own.hasPrefix("https://") { return true }
        var host = Substring(own.dropFirst("http://".count))
        if host.hasPrefix("[") {
            host = host.dropFirst().prefix { $0 != "]" }
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        return host == "localhost" || host.hasSuffix(".localhost") || (IPAddress(String(host))?.isLoopback ?? false)
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
