import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL

/// Fetches an issuer's metadata (OpenID Connect discovery, then RFC 8414) and key set.
struct JWKSClient: Sendable {
    let http: HTTPClient

    /// Larger answers are refused: real key sets are a few kilobytes.
    static let maxBodyBytes = 256 * 1024

    /// A fetched key set document and how long it may be kept (`Cache-Control: max-age`).
    struct Fetched: Sendable {
        var body: [UInt8]
        var maxAge: Duration?
    }

    /// What an issuer's metadata says: its key set, and for browser login its endpoints.
    struct ProviderMetadata: Sendable, Equatable {
        var jwksURL: UpstreamURL
        var authorizationEndpoint: UpstreamURL?
        var tokenEndpoint: UpstreamURL?
        var endSessionEndpoint: UpstreamURL?
    }

    /// The issuer's metadata. Its `issuer` must be the configured one (OpenID Connect
    /// Discovery §4.3, RFC 8414 §3.3), and a plain-http endpoint on a remote host is
    /// refused unless the profile allows plain http.
    func discover(_ profile: JWTProfileConfig) async -> Result<ProviderMetadata, JWKSError> {
        var lastError = JWKSError("discovery found no metadata")
        for location in Self.metadataLocations(issuer: profile.issuer) {
            guard case .success(let url) = UpstreamURL.parse(location) else { continue }
            switch await get(url, profile: profile, accept: "application/json") {
            case .failure(let error):
                lastError = error
                continue
            case .success(let fetched):
                guard let document = try? JSONParser.parse(fetched.body), case .object(let members) = document else {
                    return .failure(JWKSError("the issuer's metadata at \(url) is not a JSON object"))
                }
                guard case .string(let issuer)? = members.first(where: { $0.key == "issuer" })?.value, issuer == profile.issuer else {
                    return .failure(JWKSError("the metadata at \(url) names another issuer; the configured issuer must match it exactly"))
                }
                func endpoint(_ key: String) -> UpstreamURL? {
                    guard case .string(let text)? = members.first(where: { $0.key == key })?.value,
                          case .success(let found) = UpstreamURL.parse(text),
                          found.isTLS || found.isLoopback || profile.allowInsecureHTTP
                    else { return nil }
                    return found
                }
                guard let jwksURL = endpoint("jwks_uri") else {
                    return .failure(JWKSError("the metadata at \(url) has no usable jwks_uri (an https URL, or plain http on loopback)"))
                }
                return .success(ProviderMetadata(
                    jwksURL: jwksURL, authorizationEndpoint: endpoint("authorization_endpoint"),
                    tokenEndpoint: endpoint("token_endpoint"), endSessionEndpoint: endpoint("end_session_endpoint")
                ))
            }
        }
        return .failure(lastError)
    }

    /// OpenID Connect's location (the issuer's path + `/.well-known/openid-configuration`),
    /// then RFC 8414's (the well-known segment between host and path).
    static func metadataLocations(issuer: String) -> [String] {
        var trimmed = issuer
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        var locations = [trimmed + "/.well-known/openid-configuration"]
        if case .success(let url) = UpstreamURL.parse(issuer) {
            let path = url.path == "/" ? "" : url.path
            locations.append("\(url.scheme.rawValue)://\(url.authority)/.well-known/oauth-authorization-server\(path)")
        }
        return locations
    }

    func keySet(_ url: UpstreamURL, profile: JWTProfileConfig) async -> Result<Fetched, JWKSError> {
        await get(url, profile: profile, accept: "application/jwk-set+json, application/json")
    }

    private func get(_ url: UpstreamURL, profile: JWTProfileConfig, accept: String) async -> Result<Fetched, JWKSError> {
        var request = HTTPClientRequest(url: url.description)
        request.method = .GET
        request.headers.add(name: "Accept", value: accept)
        if let caFile = profile.caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            request.tlsConfiguration = tls
        }
        do {
            let response = try await http.execute(request, timeout: TimeAmount(profile.timeout))
            let bytes = try await response.body.collect(upTo: Self.maxBodyBytes)
            guard response.status == .ok else {
                return .failure(JWKSError("\(url) answered \(response.status.code)"))
            }
            return .success(Fetched(body: Array(bytes.readableBytesView), maxAge: Self.maxAge(response.headers)))
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) {
            return .failure(JWKSError("\(url) did not answer within \(profile.timeout)"))
        } catch is NIOTooManyBytesError {
            return .failure(JWKSError("\(url) answered more than \(Self.maxBodyBytes) bytes"))
        } catch {
            return .failure(JWKSError("\(url) is unreachable"))
        }
    }

    /// `max-age` from `Cache-Control` (nil without one, or with `no-store`/`no-cache`,
    /// which mean 0 here: the refresh floor applies).
    static func maxAge(_ headers: HTTPHeaders) -> Duration? {
        for value in headers["Cache-Control"] {
            for directive in value.split(separator: ",") {
                let trimmed = directive.trimmingASCIISpaces().lowercased()
                if trimmed == "no-store" || trimmed == "no-cache" { return .zero }
                if trimmed.hasPrefix("max-age="), let seconds = Int(trimmed.dropFirst("max-age=".count)), seconds >= 0 {
                    return .seconds(min(seconds, 31_536_000))
                }
            }
        }
        return nil
    }
}

extension Substring {
    func trimmingASCIISpaces() -> Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}
