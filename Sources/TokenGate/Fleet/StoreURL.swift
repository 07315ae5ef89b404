/// A PostgreSQL connection URL, `postgres://user:password@host:port/database?sslmode=…`
/// (or `postgresql://`), read from the store's secret. User and password may be
/// percent-encoded. Errors never echo the URL: it holds the store's password.
struct StoreURL: Sendable, Equatable {
    enum TLSMode: String, Sendable, CaseIterable {
        /// Cleartext: only accepted on loopback unless asked for by name.
        case disable
        /// TLS, the certificate unchecked (libpq's `require`).
        case require
        /// TLS, the certificate verified against the CA and the host name.
        case verifyFull = "verify-full"
    }

    var user: String
    var password: String?
    var host: String
    var port: Int
    var database: String
    var tls: TLSMode

    /// Whether the server is on this machine (cleartext is then the default).
    var isLoopback: Bool { host == "localhost" || (IPAddress(host)?.isLoopback ?? false) }

    static func parse(_ text: String) -> Result<StoreURL, StoreURLError> {
        let scheme: Substring
        guard let separator = text.range(of: "://") else { return .failure(.init("is not a postgres:// URL")) }
        scheme = text[..<separator.lowerBound]
        guard scheme == "postgres" || scheme == "postgresql" else { return .failure(.init("is not a postgres:// URL")) }
        var rest = text[separator.upperBound...]
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let at = rest.lastIndex(of: "@") else { return .failure(.init("names no user (postgres://user:password@host/database)")) }
        let userInfo = rest[..<at]
        let location = rest[rest.index(after: at)...]
        let userPart = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let user = FormEncoding.percentDecode(userPart[0]), !user.isEmpty else { return .failure(.init("names no user")) }
        var password: String?
        if userPart.count == 2 {
            guard let decoded = FormEncoding.percentDecode(userPart[1]) else { return .failure(.init("has a password that is not valid percent-encoding")) }
            password = decoded
        }
        let hostAndPort: Substring
        var database = user
        if let slash = location.firstIndex(of: "/") {
            hostAndPort = location[..<slash]
            let name = location[location.index(after: slash)...]
            if !name.isEmpty {
                guard let decoded = FormEncoding.percentDecode(name) else { return .failure(.init("has a database name that is not valid percent-encoding")) }
                database = decoded
            }
        } else {
            hostAndPort = location
        }
        var host = String(hostAndPort)
        var port = 5432
        if hostAndPort.hasPrefix("[") {
            guard let close = hostAndPort.firstIndex(of: "]") else { return .failure(.init("has an unclosed [IPv6] host")) }
            host = String(hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close])
            let after = hostAndPort[hostAndPort.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()), (1...65_535).contains(number) else { return .failure(.init("has a port that is not 1 to 65535")) }
                port = number
            } else if !after.isEmpty {
                return .failure(.init("has text after its [IPv6] host"))
            }
        } else if let colon = hostAndPort.lastIndex(of: ":") {
            host = String(hostAndPort[..<colon])
            guard let number = Int(hostAndPort[hostAndPort.index(after: colon)...]), (1...65_535).contains(number) else {
                return .failure(.init("has a port that is not 1 to 65535"))
            }
            port = number
        }
        guard !host.isEmpty else { return .failure(.init("names no host")) }
        var url = StoreURL(user: user, password: password, host: host, port: port, database: database, tls: .verifyFull)
        url.tls = url.isLoopback ? .disable : .verifyFull
        for parameter in query.split(separator: "&") {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair[0] == "sslmode" else { continue }
            guard pair.count == 2, let mode = TLSMode(rawValue: String(pair[1])) else {
                return .failure(.init("has an sslmode that is not \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            url.tls = mode
        }
        return .success(url)
    }
}

/// What is wrong with a store URL, never the URL itself.
struct StoreURLError: Error, Sendable, Equatable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
