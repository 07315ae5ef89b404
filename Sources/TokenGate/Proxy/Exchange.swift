import NIOCore
import NIOHTTP1

/// One request being forwarded: its plan and how far it has got in each direction.
final class Exchange {
    var plan: ForwardPlan
    let clientVersion: HTTPVersion
    let method: HTTPMethod
    /// The client's request target, for the access log.
    let target: String
    let startedAt: NIODeadline
    /// The snapshot's access log settings, read once with the route.
    let accessLog: AccessLogPolicy
    var clientKeepAlive: Bool
    var upstream: UpstreamConnection?
    /// Body parts that arrived before the upstream connection was ready.
    var pendingBody: [ByteBuffer] = []
    var requestBodyBytes = 0
    var requestEnded = false
    /// When the whole request had been written upstream; the response-header timeout runs from here.
    var requestSentAt: NIODeadline?
    var responseStarted = false
    var retries = 0
    var lastActivity = NIODeadline.now()
    /// The token injected into this request, to tell the profile which one an upstream refused.
    var injectedToken: Redacted?
    /// A copy of a small request body, so the request can be sent again after an upstream
    /// 401 with a fresh token; nil once the body outgrows `replayLimit`.
    var replayBody: [ByteBuffer]? = []
    private var replayBytes = 0
    /// Times this request was re-sent with a fresh token (at most once).
    var credentialRetries = 0
    /// The upstream answered 401 and the gateway is discarding that answer to retry.
    var discardingUnauthorized = false
    /// When the first upstream connection was asked for.
    var upstreamStartedAt: NIODeadline?
    /// The upstream's response status, once its head has been passed on.
    var responseStatus: Int?
    var responseBodyBytes = 0
    /// The validated caller, for the access log.
    var subject: String?
    var clientID: String?
    /// Recorded in metrics and the access log (exactly once).
    var recorded = false

    /// The largest body kept for a replay after an upstream 401.
    static let replayLimit = 64 * 1024

    init(plan: ForwardPlan, head: HTTPRequestHead, startedAt: NIODeadline, accessLog: AccessLogPolicy) {
        self.plan = plan
        self.clientVersion = head.version
        self.method = head.method
        self.target = head.uri
        self.startedAt = startedAt
        self.accessLog = accessLog
        self.clientKeepAlive = plan.clientKeepAlive
    }

    var requestSent: Bool { requestSentAt != nil }

    func touch() { lastActivity = .now() }

    /// Keeps `buffer` for a possible replay while the body stays small.
    func keepForReplay(_ buffer: ByteBuffer) {
        guard replayBody != nil else { return }
        replayBytes += buffer.readableBytes
        if replayBytes > Self.replayLimit {
            replayBody = nil
        } else {
            replayBody?.append(buffer)
        }
    }

    /// Puts `token` into the upstream request, replacing any earlier one.
    func inject(_ token: TokenState.Token, header: String) {
        // The planner already dropped the client's own header of this name, so the first
        // injection only adds; a retry replaces the refused token.
        if injectedToken == nil {
            plan.upstreamHead.headers.add(name: header, value: token.headerValue.revealed)
        } else {
            plan.upstreamHead.headers.replaceOrAdd(name: header, value: token.headerValue.revealed)
        }
        injectedToken = token.value
    }

    enum Timeout {
        case responseHeader
        case idle
    }

    /// When this exchange times out if nothing happens, and which timeout that is: while
    /// waiting for the response head, the response-header timeout; otherwise the idle
    /// timeout since bytes last moved.
    var deadline: (at: NIODeadline, kind: Timeout) {
        let route = plan.route
        if let sentAt = requestSentAt, !responseStarted {
            return (sentAt + route.responseHeaderTimeout, .responseHeader)
        }
        return (lastActivity + route.idleTimeout, .idle)
    }

    /// The gateway's answer when `kind` expires.
    func timeoutError(_ kind: Timeout) -> GatewayError {
        let route = plan.route
        switch kind {
        case .responseHeader:
            return GatewayError(status: .gatewayTimeout, code: "upstream_timeout", detail: "the upstream sent no response within \(route.config.timeouts.responseHeader)", route: route.name)
        case .idle:
            return GatewayError(status: .gatewayTimeout, code: "upstream_timeout", detail: "no data moved for \(route.config.timeouts.idle)", route: route.name)
        }
    }
}
