#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
/// An absolute `http`/`https` URL without credentials, query or fragment: an upstream
/// or an authorization server endpoint.
public struct UpstreamURL: Sendable, Hashable, CustomStringConvertible {
    enum Scheme: String, Sendable { case http, https }

    var scheme: Scheme
    /// The host name or address, without brackets for IPv6.
    var host: String
    public var port: Int
    /// The path, always starting with `/`.
    var path: String

    var isTLS: Bool { scheme == .https }

    /// `host` or `host:port` when the port is not the scheme's default, as sent in `Host`.
    var authority: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == .https ? 443 : 80
        return port == defaultPort ? hostPart : "\(hostPart):\(port)"
    }

    public var description: String { "\(scheme.rawValue)://\(authority)\(path)" }

    /// Parses an absolute URL. Error messages never repeat user info (it may hold a password).
    static func parse(_ text: String) -> Result<UpstreamURL, AddressError> {
        let lower = text.lowercased()
        let scheme: Scheme
        if lower.hasPrefix("http://") {
            scheme = .http
        } else if lower.hasPrefix("https://") {
            scheme = .https
        } else {
            return .failure(.init("must be an absolute http:// or https:// URL"))
        }
        let rest = text.dropFirst(scheme.rawValue.count + 3)
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        if authority.contains("@") { return .failure(.init("must not contain user info; give credentials as secrets")) }
        if tail.contains("?") || tail.contains("#") { return .failure(.init("must not contain a query or fragment")) }
        guard !authority.isEmpty else { return .failure(.init("missing host")) }
        let defaultPort = scheme == .https ? 443 : 80
        var host: String
        var port = defaultPort
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return .failure(.init("unclosed '[' in IPv6 host")) }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let parsed = Int(after.dropFirst()), (1...65535).contains(parsed) else {
                    return .failure(.init("port must be a number from 1 to 65535"))
                }
                port = parsed
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            // RFC 3986 §3.2.2: an IPv6 address in a URL is bracketed; `http://::1:3000/`
            // reads two ways (and printed back, as `[::1]`, would not be what was written).
            guard !host.contains(":") else {
                return .failure(.init("an IPv6 address in a URL goes in brackets (http://[::1]:3000/)"))
            }
            guard let parsed = Int(authority[authority.index(after: colon)...]), (1...65535).contains(parsed) else {
                return .failure(.init("port must be a number from 1 to 65535"))
            }
            port = parsed
        } else {
            host = String(authority)
        }
        guard !host.isEmpty, host.unicodeScalars.allSatisfy(Self.isHostScalar) else {
            return .failure(.init("invalid host"))
        }
        if let problem = HostLiteral.problem(host[...], bracketed: authority.hasPrefix("[")) { return .failure(problem) }
        host = host.lowercased()
        let path = tail.isEmpty ? "/" : String(tail)
        guard path.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            return .failure(.init("path must be percent-encoded ASCII without spaces"))
        }
        return .success(UpstreamURL(scheme: scheme, host: host, port: port, path: path))
    }

    private static func isHostScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-", ".", "_", ":": return true
        default: return false
        }
    }

    /// True when the host is a loopback address or `localhost`.
    var isLoopback: Bool { BindAddress(host: host, port: port).isLoopback }
}
