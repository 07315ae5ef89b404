import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL

/// Sends token requests with AsyncHTTPClient, configured for talking to an authorization
/// server: no redirects, no decompression, a deadline per request, bodies read up to a
/// small limit.
struct TokenEndpointClient: Sendable {
    let http: HTTPClient

    /// An HTTP client suitable for token and introspection endpoints; `connectionsPerHost`
    /// bounds its HTTP/1.1 connections to one authorization server.
    static func makeHTTPClient(eventLoopGroup: any EventLoopGroup, connectionsPerHost: Int = 8) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        return HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
    }

    /// Posts `request`; never throws: every failure becomes a `CredentialError`.
    func send(_ request: FormPost, timeout: Duration, caFile: String?) async -> Result<IssuedToken, CredentialError> {
        let outgoing = request.httpRequest(caFile: caFile)
        do {
            let response = try await http.execute(outgoing, timeout: TimeAmount(timeout))
            let bytes: ByteBuffer
            do {
                bytes = try await response.body.collect(upTo: TokenResponseParser.maxBodyBytes)
            } catch is NIOTooManyBytesError {
                return .failure(CredentialError(kind: .malformedResponse, detail: "token endpoint response is larger than \(TokenResponseParser.maxBodyBytes) bytes"))
            }
            return TokenResponseParser.parse(
                status: Int(response.status.code),
                retryAfter: response.headers.first(name: "retry-after"),
                body: Array(bytes.readableBytesView)
            )
        } catch {
            return .failure(Self.classify(error, timeout: timeout))
        }
    }

    /// Maps transport errors to safe sentences (no URL query, no body, no secret).
    static func classify(_ error: any Error, timeout: Duration) -> CredentialError {
        if let client = error as? HTTPClientError {
            switch client {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                return CredentialError(kind: .timeout, detail: "token endpoint did not answer within \(timeout)")
            default:
                return CredentialError(kind: .network, detail: "token endpoint request failed (\(client.shortDescription))")
            }
        }
        if error is NIOSSLError {
            return CredentialError(kind: .network, detail: "TLS handshake with the token endpoint failed")
        }
        return CredentialError(kind: .network, detail: "token endpoint unreachable (\(String(describing: type(of: error))))")
    }
}

extension HTTPClientError {
    /// The error's name without associated values (which might echo a URL).
    var shortDescription: String {
        var text = Substring("\(self)")
        if text.hasPrefix("HTTPClientError.") { text = text.dropFirst("HTTPClientError.".count) }
        return String(text.prefix { $0 != "(" })
    }
}
