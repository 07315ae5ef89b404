import AsyncHTTPClient
import NIOCore
import NIOSSL

/// A form POST to an authorization server endpoint: token requests and introspection
/// calls are built the same way.
struct FormPost {
    var url: UpstreamURL
    /// Header fields: content type, accept, and `Authorization: Basic …` for `client_secret_basic`.
    var headers: [(name: String, value: String)]
    var form: [(String, String)]

    var body: String { FormEncoding.encode(form) }

    /// Starts with the standard headers, then applies the client's authentication.
    init(url: UpstreamURL, form: [(String, String)], clientID: String, secret: Redacted, method: CredentialProfileConfig.AuthMethod) {
        self.url = url
        self.form = form
        self.headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
        ClientAuthentication.apply(method, clientID: clientID, secret: secret, headers: &headers, form: &self.form)
    }

    /// A public client's request (RFC 6749 §2.3, no secret): `client_id` in the form.
    init(url: UpstreamURL, form: [(String, String)], publicClientID: String) {
        self.url = url
        self.form = form + [("client_id", publicClientID)]
        self.headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
    }

    /// The AsyncHTTPClient request, trusting `caFile` instead of the system roots when given.
    func httpRequest(caFile: String?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url.description)
        request.method = .POST
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        let body = self.body
        request.headers.add(name: "Content-Length", value: String(body.utf8.count))
        request.body = .bytes(ByteBuffer(string: body))
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            request.tlsConfiguration = tls
        }
        return request
    }
}
