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
