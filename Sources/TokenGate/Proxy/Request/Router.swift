import NIOCore
import NIOSSL

/// One listener's routing table: the longest matching prefix wins; on equal prefixes a
/// route that names the request's host wins over one that does not.
struct Router: Sendable {
    private let routes: [ProxyRoute]

    init(routes: [ProxyRoute]) {
        self.routes = routes.sorted { a, b in
            if a.config.pathPrefix.utf8.count != b.config.pathPrefix.utf8.count {
                return a.config.pathPrefix.utf8.count > b.config.pathPrefix.utf8.count
            }
            return a.config.host != nil && b.config.host == nil
        }
    }

    /// The route for a request, given its host (lower-case, without port) and normalised path.
    func route(host: String?, path: String) -> ProxyRoute? {
        for route in routes where route.matches(path: path) {
            if let wanted = route.config.host, wanted != host { continue }
            return route
        }
        return nil
    }
}
