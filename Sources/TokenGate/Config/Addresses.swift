#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A listening address: `"127.0.0.1:8081"`, `"0.0.0.0:8080"`, `"[::1]:9901"`, `"localhost:8080"`.
public struct BindAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; the message says what is wrong.
    static func parse(_ text: String) -> Result<BindAddress, AddressError> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.init("unclosed '[' in IPv6 address")) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.init("expected \"[address]:port\"")) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(.init("expected \"host:port\"")) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return .failure(.init("write IPv6 addresses in brackets, \"[::1]:port\"")) }
        }
        guard !host.isEmpty else { return .failure(.init("missing host before the port")) }
        if let problem = HostLiteral.problem(host, bracketed: text.hasPrefix("[")) { return .failure(problem) }
        guard let port = Int(portText), (0...65535).contains(port) else {
            return .failure(.init("port must be a number from 0 to 65535"))
        }
        return .success(BindAddress(host: String(host), port: port))
    }

    /// True for addresses only this machine can reach: 127.0.0.0/8, ::1 and `localhost`.
    var isLoopback: Bool {
        if host == "localhost" { return true }
        if let address = IPAddress(host) { return address.isLoopback }
        return false
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The rules for a host that is written as an address rather than a name.
enum HostLiteral {
    /// Why `host` cannot be used, if it cannot. A host whose last label is a number
    /// (`999.0.0.1`, `1.2.3`, `0x7f.1`, `2130706433`: WHATWG URL's "ends in a number") is an
    /// IPv4 address, never a name, and must be a valid dotted quad (four decimal numbers
    /// from 0 to 255): taken as a name, `999.0.0.1` fails only when it is resolved, and the
    /// resolver reads shorthand like `127.1` or `0x7f.1` as an address the loopback and
    /// trusted-proxy checks do not recognise. In brackets only an IPv6 address is allowed.
    static func problem(_ host: Substring, bracketed: Bool) -> AddressError? {
        if bracketed {
            guard host.contains(":"), IPAddress(String(host)) != nil else { return AddressError("only an IPv6 address goes in brackets") }
            return nil
        }
        var labels = host.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count > 1, labels.last?.isEmpty == true { labels.removeLast() }
        guard let last = labels.last, isNumber(last) else { return nil }
        guard let address = IPAddress(String(host)), address.bytes.count == 4 else {
            return AddressError("a host of numbers must be an IPv4 address written as four decimal numbers from 0 to 255, like 127.0.0.1")
        }
        return nil
    }

    /// A decimal number, or `0x` and hexadecimal digits (`0x` alone is 0).
    private static func isNumber(_ label: Substring) -> Bool {
        let lower = label.lowercased()
        if lower.hasPrefix("0x") { return lower.dropFirst(2).allSatisfy { $0.isASCII && $0.isHexDigit } }
        return !label.isEmpty && label.allSatisfy { $0.isASCII && $0.isNumber }
    }
}

/// Why an address or URL was refused.
struct AddressError: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

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

/// An IPv4 or IPv6 address as 4 or 16 bytes.
struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    var bytes: [UInt8]

    init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            let raw = withUnsafeBytes(of: &v6) { Array($0) }
            // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address.
            if raw[0..<10].allSatisfy({ $0 == 0 }) && raw[10] == 0xFF && raw[11] == 0xFF {
                bytes = Array(raw[12..<16])
            } else {
                bytes = raw
            }
            return
        }
        return nil
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// 127.0.0.0/8, ::1, and 127.x written as an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`).
    var isLoopback: Bool {
        if bytes.count == 4 { return bytes[0] == 127 }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff { return bytes[12] == 127 }
        return bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    var description: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
        guard inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or one address.
struct CIDR: Sendable, Hashable, CustomStringConvertible {
    var network: IPAddress
    var prefixLength: Int

    static func parse(_ text: String) -> Result<CIDR, AddressError> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else {
            return .failure(.init("\"\(text)\" is not an IP address or CIDR"))
        }
        let maxLength = address.bytes.count * 8
        var length = maxLength
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...maxLength).contains(parsed) else {
                return .failure(.init("prefix length must be from 0 to \(maxLength)"))
            }
            length = parsed
        }
        return .success(CIDR(network: address, prefixLength: length))
    }

    func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(address.bytes, network.bytes) {
            if remaining <= 0 { return true }
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if a & mask != b & mask { return false }
            remaining -= 8
        }
        return true
    }

    var description: String { "\(network)/\(prefixLength)" }
}
