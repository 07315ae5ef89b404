import NIOCore
import NIOSSL

/// Where a route sends its requests: the address to connect to and how (TLS or not).
/// Connections in the per-event-loop pools are shared by routes with equal keys.
struct UpstreamEndpoint: Sendable {
    struct Key: Hashable, Sendable {
        var host: String
        var port: Int
        var tls: Bool
        var caFile: String?
        var serverName: String?
    }

    let key: Key
    /// Built once per configuration snapshot (loading a CA bundle is not per-request work).
    let tlsContext: NIOSSLContext?
    /// The name sent as SNI and checked against the certificate; nil for IP addresses.
    let serverHostname: String?
}

/// A route's inbound validation at run time: its rules, and the JWT and introspection
/// profiles it uses (at least one).
final class RouteValidation: Sendable {
    let rules: InboundValidationConfig
    let introspection: IntrospectionProfile?
    let jwt: JWTProfile?

    init(rules: InboundValidationConfig, introspection: IntrospectionProfile?, jwt: JWTProfile?) {
        self.rules = rules
        self.introspection = introspection
        self.jwt = jwt
    }
}

/// Every identity header name the gateway may set, in the form used to strip look-alikes
/// sent by clients: lower-cased, with `_` as `-` (a client's `X_Auth_Subject`, which some
/// servers read as `X-Auth-Subject`, is removed like `x-auth-subject`).
///
/// It is the union over every route of the configuration (and of the one before a
/// reload), stripped on every route of every listener: a route that does not validate
/// must not let a client reach the same upstream with a forged `X-Auth-Subject`.
struct IdentityHeaderNames: Sendable, Equatable {
    private(set) var keys: [String] = []
    /// Bit n set when some key is n bytes long (n < 64), so most names are turned away
    /// without a comparison.
    private var lengths: UInt64 = 0

    init(_ names: some Sequence<String> = []) {
        for name in names { insert(name) }
    }

    mutating func insert(_ name: String) {
        let key = Self.key(name)
        if !keys.contains(key) { keys.append(key) }
        lengths |= Self.lengthBit(key.utf8.count)
    }

    mutating func formUnion(_ other: IdentityHeaderNames) {
        for key in other.keys { insert(key) }
    }

    private static func lengthBit(_ count: Int) -> UInt64 {
        count < 64 ? 1 << UInt64(count) : 1 << 63
    }

    static func key(_ name: String) -> String {
        String(decoding: name.utf8.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : ($0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0) }, as: UTF8.self)
    }

    /// Whether a client's header could be mistaken for an identity header.
    func isLookalike(_ name: String) -> Bool {
        let count = name.utf8.count
        guard lengths & Self.lengthBit(count) != 0 else { return false }
        return keys.contains { key in
            key.utf8.count == count && zip(key.utf8, name.utf8).allSatisfy { expected, byte in
                let normal = byte == UInt8(ascii: "_") ? UInt8(ascii: "-") : (byte >= 65 && byte <= 90 ? byte | 0x20 : byte)
                return normal == expected
            }
        }
    }
}

/// A route compiled for the hot path: everything a request needs, precomputed. A class,
/// so that handing a route to a request costs one reference, not a copy of every field.
final class ProxyRoute: Sendable {
    let config: RouteConfig
    let endpoint: UpstreamEndpoint
    let connectTimeout: TimeAmount
    let responseHeaderTimeout: TimeAmount
    let idleTimeout: TimeAmount
    /// The upstream's `Host` value, computed once.
    let upstreamAuthority: String
    /// The credential profile whose token this route injects.
    let credential: CredentialProfile?
    /// Inbound token validation, when the route requires it.
    let validation: RouteValidation?
    /// This route's counters and histograms (kept across reloads by listener and name).
    let metrics: RouteMetrics
    /// Browser login, when the route requires a session.
    let login: LoginProfile?

    init(
        config: RouteConfig, endpoint: UpstreamEndpoint, connectTimeout: TimeAmount, responseHeaderTimeout: TimeAmount,
        idleTimeout: TimeAmount, upstreamAuthority: String, credential: CredentialProfile?, validation: RouteValidation?,
        metrics: RouteMetrics, login: LoginProfile? = nil
    ) {
        self.login = login
        self.config = config
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.responseHeaderTimeout = responseHeaderTimeout
        self.idleTimeout = idleTimeout
        self.upstreamAuthority = upstreamAuthority
        self.credential = credential
        self.validation = validation
        self.metrics = metrics
    }

    var name: String { config.name }

    /// The header the injected credential goes in; the client's own is never forwarded.
    var credentialHeaderName: String? { credential?.config.headerName }

    /// The path the upstream receives for a normalised request path.
    func upstreamPath(for path: String) -> String {
        guard config.stripPrefix else { return RequestPath.join(base: config.upstream.path, path) }
        // The prefix matched, so its byte count is a character boundary of `path`. Keep a
        // leading slash when the prefix ended with one: "/billing/" + "x" → "/x".
        let prefixLength = config.pathPrefix.utf8.count
        let keep = config.pathPrefix.utf8.last == UInt8(ascii: "/") ? prefixLength - 1 : prefixLength
        return RequestPath.join(base: config.upstream.path, String(Substring(path.utf8.dropFirst(keep))))
    }

    /// Whether the normalised `path` is under this route's prefix, by the segment rule of
    /// `RequestPath.isUnder` (`/api` matches `/api` and `/api/x`, never `/apix`).
    func matches(path: String) -> Bool {
        RequestPath.isUnder(path, prefix: config.pathPrefix)
    }
}

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
