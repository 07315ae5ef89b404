import FoundationEssentials
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small OAuth 2 authorization server for development and tests, on loopback:
/// token endpoint (RFC 6749: client credentials, password, refresh token with rotation;
/// `client_secret_basic` and `client_secret_post`), introspection (RFC 7662) and
/// revocation (RFC 7009), with fault injection and call counters. Opaque random tokens,
/// or JWT access tokens (RFC 9068) for `jwtClients`, signed with keys it publishes (JWKS,
/// discovery) and can rotate.
///
/// It is a tool, never started by `tokengate run`. From a test:
/// ```swift
/// let idp = try await SandboxAuthorizationServer.start(.demo)
/// idp.setFault(.status(503, retryAfter: 2), on: .token)
/// // … point a gateway at idp.tokenURL …
/// #expect(idp.calls(.token) == 1)
/// await idp.stop()
/// ```
public final class SandboxAuthorizationServer: Sendable {
    /// A registered client.
    public struct Client: Sendable {
        public var id: String
        public var secret: String
        /// Grants it may use: `client_credentials`, `password`, `refresh_token`.
        public var grants: Set<String>
        /// Scopes it may ask for; all of them when it asks for none.
        public var scopes: [String]
        /// Whether it may call the introspection endpoint (a resource server).
        public var mayIntrospect: Bool
        /// Redirect URIs for the authorization code grant; empty: any loopback one.
        public var redirectURIs: [String] = []

        public init(id: String, secret: String, grants: Set<String> = ["client_credentials"], scopes: [String] = [], mayIntrospect: Bool = false) {
            self.id = id
            self.secret = secret
            self.grants = grants
            self.scopes = scopes
            self.mayIntrospect = mayIntrospect
        }
    }

    /// A resource owner: for the password grant, and the login form.
    public struct User: Sendable {
        public var username: String
        public var password: String
        /// Claims of its ID tokens.
        public var email: String?
        public var name: String?
        public var groups: [String]

        public init(username: String, password: String, email: String? = nil, name: String? = nil, groups: [String] = []) {
            self.username = username
            self.password = password
            self.email = email
            self.name = name
            self.groups = groups
        }
    }

    public struct Configuration: Sendable {
        public var clients: [Client]
        public var users: [User]
        /// `expires_in` of issued access tokens. Default one hour.
        public var accessTokenLifetime: Duration
        /// Whether token responses include `expires_in`. Default true.
        public var sendsExpiresIn: Bool
        /// `token_type` in token responses. Default `Bearer`.
        public var tokenType: String
        /// `iss` in introspection answers.
        public var issuer: String
        /// Clients whose access tokens are JWTs (RFC 9068) signed with the sandbox's key.
        public var jwtClients: Set<String> = []
        /// `aud` of JWT access tokens issued without an `audience` parameter.
        public var jwtAudience = "https://api.sandbox.test"

        public init(
            clients: [Client], users: [User] = [], accessTokenLifetime: Duration = .seconds(3600), sendsExpiresIn: Bool = true,
            tokenType: String = "Bearer", issuer: String = "tokengate-sandbox", jwtClients: Set<String> = []
        ) {
            self.clients = clients
            self.users = users
            self.accessTokenLifetime = accessTokenLifetime
            self.sendsExpiresIn = sendsExpiresIn
            self.tokenType = tokenType
            self.issuer = issuer
            self.jwtClients = jwtClients
        }

        /// The clients and user the shipped `gateway.json` and `tokengate demo` use.
        public static let demo = Configuration(
            clients: [
                Client(id: "billing-svc", secret: "demo-billing-secret", grants: ["client_credentials"], scopes: ["invoices:read", "invoices:write"]),
                Client(id: "legacy-crm", secret: "demo-crm-secret", grants: ["password", "refresh_token"], scopes: ["contacts"]),
                Client(id: "tokengate-rs", secret: "demo-introspection-secret", grants: [], mayIntrospect: true),
                Client(id: "demo-caller", secret: "demo-caller-secret", grants: ["client_credentials"], scopes: ["legacy:use", "profile"]),
                Client(id: "demo-jwt-caller", secret: "demo-jwt-caller-secret", grants: ["client_credentials"], scopes: ["legacy:use", "profile"]),
                Client(id: "legacy-portal", secret: "demo-portal-secret", grants: ["authorization_code", "refresh_token"], scopes: ["openid", "profile", "email"]),
            ],
            users: [
                User(username: "crm-sync", password: "demo-crm-password"),
                User(username: "alice", password: "demo-alice-password", email: "alice@example.com", name: "Alice Example", groups: ["staff", "billing"]),
            ],
            jwtClients: ["demo-jwt-caller"]
        )
    }

    public enum Endpoint: String, Sendable, CaseIterable {
        case token, introspection, revocation
        /// The JWT signing keys (RFC 7517), `GET`.
        case jwks
        /// OpenID Connect discovery and RFC 8414 metadata, `GET`.
        case discovery, metadata
        /// The browser's side: the login form and RP-initiated logout.
        case authorize, endSession

        var path: String {
            switch self {
            case .token: return "/oauth2/token"
            case .introspection: return "/oauth2/introspect"
            case .revocation: return "/oauth2/revoke"
            case .jwks: return "/oauth2/jwks"
            case .discovery: return "/.well-known/openid-configuration"
            case .metadata: return "/.well-known/oauth-authorization-server"
            case .authorize: return "/oauth2/authorize"
            case .endSession: return "/oauth2/logout"
            }
        }
    }

    /// A signing key's type.
    public enum KeyKind: Sendable { case es256, rs256 }

    /// How `mintJWT` signs.
    public enum Signing: Sendable {
        /// With the key tokens are signed with now.
        case currentKey
        /// With this key (retired ones are gone).
        case key(String)
        /// Not at all: `alg: none` and an empty signature.
        case unsigned
        /// HS256 keyed with the public JWK's bytes (the key's `kid`, or the current one).
        case hmacWithPublicKey(kid: String?)
    }

    /// Misbehaviour to inject on an endpoint.
    public enum Fault: Sendable, Equatable {
        /// Answer normally, after a pause.
        case delay(Duration)
        /// Answer with this status and `{"error":"server_error"}`; `Retry-After` when given.
        case status(Int, retryAfter: Int? = nil)
        /// Answer 200 with a body that is not JSON.
        case malformedJSON
        /// Answer 200 with exactly this body: a hostile or broken server's answer
        /// (`"expires_in": 1e16`, `"exp": 1e19`, a token with a space, …).
        case body(String)
        /// Reset the connection without answering.
        case connectionReset
        /// Answer with an RFC 6749 §5.2 error code and status.
        case oauthError(String, status: Int = 400)
        /// Answer every `refresh_token` grant with this status and an empty body, no RFC 6749
        /// §5.2 error, as some servers answer a dead refresh token; other requests are
        /// answered normally and do not count against `times`.
        case refreshRefusedWithoutBody(status: Int = 400)

        /// Whether the fault applies to `request` (most apply to every request).
        func applies(to request: RecordedRequest) -> Bool {
            guard case .refreshRefusedWithoutBody = self else { return true }
            return request.formValue("grant_type") == "refresh_token"
        }
    }

    /// A request as the sandbox received it, for tests of the exact wire form.
    public struct RecordedRequest: Sendable {
        public var method: String
        public var uri: String
        public var headers: [(name: String, value: String)]
        public var body: String
        /// When the request arrived.
        public var receivedAt: ContinuousClock.Instant = .now

        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        /// The decoded form fields, in order.
        public var form: [(String, String)] { SandboxForm.decode(body) ?? [] }

        public func formValue(_ name: String) -> String? { form.first { $0.0 == name }?.1 }
    }

    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    let state: SandboxState

    public static func start(_ configuration: Configuration, host: String = "127.0.0.1", port: Int = 0) async throws -> SandboxAuthorizationServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let state = SandboxState(configuration: configuration)
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(SandboxHTTPHandler(state: state))
                    }
                }
                .bind(host: host, port: port).get()
            let server = SandboxAuthorizationServer(channel: channel, group: group, state: state)
            state.baseURL.withLockedValue { $0 = server.baseURL }
            _ = try await state.jwt.addKey(.es256, publishAlgorithm: true, current: true)
            return server
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, state: SandboxState) {
        self.channel = channel
        self.group = group
        self.state = state
    }

    public var port: Int { channel.localAddress?.port ?? 0 }
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public func url(_ endpoint: Endpoint) -> String { baseURL + endpoint.path }
    public var tokenURL: String { url(.token) }
    public var introspectionURL: String { url(.introspection) }

    /// Injects `fault` on `endpoint` for the next `times` calls (every call when nil);
    /// nil clears it.
    public func setFault(_ fault: Fault?, on endpoint: Endpoint, times: Int? = nil) {
        state.setFault(fault, on: endpoint, times: times)
    }

    /// Requests the endpoint received, faulted ones included.
    public func calls(_ endpoint: Endpoint) -> Int { state.calls(endpoint) }

    /// Every request the endpoint received, oldest first (the last 1,000).
    public func requests(_ endpoint: Endpoint) -> [RecordedRequest] { state.requests(endpoint) }

    /// Access tokens issued so far (for tests that need to know what TokenGate holds).
    public var issuedAccessTokens: [String] { state.issuedAccessTokens }

    /// Every value this server holds that must never appear in a log, an error or a status
    /// page: client secrets, user passwords and every access and refresh token it issued.
    public var secretValues: [String] {
        state.configuration.clients.map(\.secret) + state.configuration.users.map(\.password)
            + state.issuedAccessTokens + state.issuedRefreshTokens + state.jwt.minted
    }

    /// Makes a token inactive, as the revocation endpoint would.
    public func revoke(_ token: String) { state.revoke(token) }

    /// Issues an access token directly (a caller's token for ingress tests).
    public func issueToken(clientID: String, scope: String, username: String? = nil, audience: String? = nil, lifetime: Duration? = nil) -> String {
        state.issue(clientID: clientID, scope: scope, username: username, audience: audience, lifetime: lifetime).accessToken
    }

    /// The `iss` of the sandbox's JWTs, and the base of its discovery documents.
    public var issuer: String { baseURL }
    public var jwksURL: String { url(.jwks) }

    /// An RFC 9068 access token signed with the current key.
    public func jwtAccessToken(clientID: String, scope: String, subject: String? = nil, audience: String? = nil, lifetime: Duration? = nil) -> String {
        let now = SandboxState.now()
        let seconds = Int((lifetime ?? state.configuration.accessTokenLifetime).components.seconds)
        let record = SandboxState.TokenRecord(clientID: clientID, username: subject, scope: scope, audience: audience, issuedAt: now, expiresAt: now + seconds, active: true)
        return state.jwtAccessToken(record)
    }

    /// Any JWT: `header` and `claims` as given (`alg` and `kid` filled from the key unless
    /// set), signed as `signing` says. For the tokens a real server would not make.
    public func mintJWT(header: [String: Any] = ["typ": "at+jwt"], claims: [String: Any], signing: Signing = .currentKey) throws -> String {
        try state.jwt.sign(header: header, claims: claims, signing: signing)
    }

    /// Adds a signing key to the key set; with `current`, tokens are signed with it from now
    /// (rotation: the old key stays published until `retireSigningKey`).
    public func addSigningKey(_ kind: KeyKind = .es256, publishAlgorithm: Bool = true, current: Bool = true) async throws -> String {
        try await state.jwt.addKey(kind, publishAlgorithm: publishAlgorithm, current: current)
    }

    /// Takes a key out of the key set.
    public func retireSigningKey(_ kid: String) { state.jwt.retire(kid) }

    /// The `kid` new tokens are signed with.
    public var currentSigningKeyID: String { state.jwt.currentKeyID }

    /// `Cache-Control` of the key set answer (default `public, max-age=300`; nil: none).
    public func setJWKSCacheControl(_ value: String?) { state.jwt.setCacheControl(value) }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}
