import AsyncHTTPClient
import NIOCore

/// Calls an RFC 7662 endpoint as the resource server.
struct IntrospectionClient: Sendable {
    let http: HTTPClient

    static let maxBodyBytes = 64 * 1024

    func introspect(_ token: String, profile: IntrospectionProfileConfig, clientSecret: Redacted) async -> Result<IntrospectionClaims, IntrospectionError> {
        let post = FormPost(
            url: profile.url, form: [("token", token), ("token_type_hint", "access_token")],
            clientID: profile.clientID, secret: clientSecret, method: profile.authMethod
        )
        let request = post.httpRequest(caFile: profile.caFile)
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
