import AsyncHTTPClient
import NIOCore
import NIOSSL

/// Why introspection gave no answer. Safe to show: never the endpoint's URL or raw text.
struct IntrospectionError: Error, Sendable, CustomStringConvertible {
    var description: String
}

/// Calls an RFC 7662 endpoint as the resource server.
struct IntrospectionClient: Sendable {
    let http: HTTPClient

    static let maxBodyBytes = 64 * 1024

    func introspect(_ token: String, profile: IntrospectionProfileConfig, clientSecret: Redacted) async -> Result<IntrospectionClaims, IntrospectionError> {
        var form: [(String, String)] = [("token", token), ("token_type_hint", "access_token")]
        var request = HTTPClientRequest(url: profile.url.description)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        switch profile.authMethod {
        case .clientSecretBasic:
            let credentials = FormEncoding.escape(profile.clientID) + ":" + FormEncoding.escape(clientSecret.revealed)
            request.headers.add(name: "Authorization", value: "Basic " + Base64.encode(Array(credentials.utf8)))
        case .clientSecretPost:
            form.append(("client_id", profile.clientID))
            form.append(("client_secret", clientSecret.revealed))
        }
        let body = FormEncoding.encode(form)
        request.headers.add(name: "Content-Length", value: String(body.utf8.count))
        request.body = .bytes(ByteBuffer(string: body))
        if let caFile = profile.caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            request.tlsConfiguration = tls
        }
        do {
            let response = try await http.execute(request, timeout: TimeAmount(profile.timeout))
            let bytes = try await response.body.collect(upTo: Self.maxBodyBytes)
            guard response.status == .ok else {
                return .failure(IntrospectionError(description: "introspection endpoint answered \(response.status.code)"))
            }
            guard let claims = IntrospectionClaims.parse(Array(bytes.readableBytesView)) else {
                return .failure(IntrospectionError(description: "introspection endpoint answer is not an RFC 7662 response"))
            }
            return .success(claims)
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) {
            return .failure(IntrospectionError(description: "introspection endpoint did not answer within \(profile.timeout)"))
        } catch is NIOTooManyBytesError {
            return .failure(IntrospectionError(description: "introspection endpoint answer is too large"))
        } catch {
            return .failure(IntrospectionError(description: "introspection endpoint unreachable"))
        }
    }
}
