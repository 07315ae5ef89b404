import NIOCore
import NIOHTTP1

/// What the gateway decided to do with one request head: the route, the head the
/// upstream will receive, and the facts the exchange needs about framing.
struct ForwardPlan {
    let route: ProxyRoute
    /// The request line (the client's method, the upstream target) and the fields the
    /// upstream receives, as bytes, without the empty line: the injected credential and
    /// identity fields follow when it is sent (`Exchange.upstreamHead()`), so a 401 retry
    /// re-sends these bytes with a fresh token.
    let upstreamHead: ByteBuffer
    /// Declared body length, when framed by `Content-Length`.
    let contentLength: Int?
    /// The body is chunked (length unknown up front).
    let isChunked: Bool
    /// The client sent `Expect: 100-continue`.
    let expectsContinue: Bool
    /// The client wants the connection kept open after this exchange.
    let clientKeepAlive: Bool
    /// Safe to send again on a fresh connection if a pooled one turns out to be dead:
    /// an idempotent method without a body.
    let isReplayable: Bool
    /// The caller's bearer token, on routes that validate one.
    let bearer: BearerCredential
    /// The `X-Request-Id` sent upstream: the client's when well-formed, else a new one.
    let requestID: String
    /// NIO's decoder stops after this request (`Upgrade` with `Connection: upgrade`).
    let endsParsing: Bool
    /// Forwarded as a WebSocket upgrade: a `101` from the upstream that completes this
    /// handshake starts a tunnel.
    let webSocket: WebSocketHandshake?
    var mayUpgrade: Bool { webSocket != nil }
    /// On a login route: what the login flow needs of the request.
    var login: LoginRequest? = nil
    /// With browser login configured (on every route): the gateway's cookies, which no
    /// upstream response may set (`ResponseRules.clientHead`).
    var loginCookies: LoginCookies.Names? = nil

    var hasBody: Bool { isChunked || (contentLength ?? 0) > 0 }
}
