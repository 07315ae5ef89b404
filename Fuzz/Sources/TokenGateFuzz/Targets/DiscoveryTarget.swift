import NIOHTTP1
@testable import TokenGate

/// OpenID Connect discovery and RFC 8414 metadata, as JWT and login profiles read it.
/// `JWKSClient.discover` fetches over HTTP and reads the document inline, so this target
/// runs the parsing beneath it on the input (the document): `JSONParser.parse`, the
/// issuer's metadata locations (`JWKSClient.metadataLocations`), every endpoint through
/// `UpstreamURL.parse` with discover's rule (https, or plain http on loopback, unless
/// the profile allows http), and each string as a `Cache-Control` value
/// (`JWKSClient.maxAge`).
///
/// Invariants: a parsed URL has a lower-case host, a port from 1 to 65535 and a path
/// starting with `/`, and parses from its own description to itself; the metadata
/// locations are well-known URLs that parse; a `max-age` is at most a year.
enum DiscoveryTarget {
    static let endpoints = ["issuer", "jwks_uri", "authorization_endpoint", "token_endpoint", "end_session_endpoint",
                            "introspection_endpoint", "revocation_endpoint", "userinfo_endpoint"]

    static func run(_ bytes: [UInt8]) {
        guard let document = try? JSONParser.parse(bytes), case .object(let members) = document else { return }
        let profile = Fixture.shared.jwtConfig
        func text(_ key: String) -> String? {
            if case .string(let value)? = members.first(where: { $0.key == key })?.value { return value }
            return nil
        }
        if let issuer = text("issuer") {
            for location in JWKSClient.metadataLocations(issuer: issuer) {
                invariant(location.contains("/.well-known/"), "a metadata location is not a well-known URL")
                check(location)
            }
        }
        for key in endpoints {
            guard let value = text(key), case .success(let url) = check(value) else { continue }
            _ = url.isTLS || url.isLoopback || profile.allowInsecureHTTP
        }
        var strings: [String] = []
        JSONWriter.strings(document, into: &strings)
        for string in strings.prefix(64) {
            if let age = JWKSClient.maxAge(HTTPHeaders([("Cache-Control", string)])) {
                invariant(age >= .zero && age <= .seconds(31_536_000), "a max-age outside zero to a year")
            }
            check(string)
        }
    }

    @discardableResult
    static func check(_ text: String) -> Result<UpstreamURL, AddressError> {
        let result = UpstreamURL.parse(text)
        guard case .success(let url) = result else { return result }
        invariant(url.host == url.host.lowercased(), "a parsed URL keeps upper case in its host")
        invariant((1...65535).contains(url.port), "a parsed URL has port \(url.port)")
        invariant(url.path.utf8.first == UInt8(ascii: "/"), "a parsed URL's path does not start with /")
        _ = url.authority
        // What the gateway sends (`url.description` is the request's URL) must be the URL it parsed.
        if case .success(let again) = UpstreamURL.parse(url.description) {
            invariant(again == url, "a parsed URL parses from its own description to another URL")
        } else {
            invariant(false, "a parsed URL's own description does not parse")
        }
        return result
    }
}
