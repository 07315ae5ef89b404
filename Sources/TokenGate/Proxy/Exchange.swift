import NIOCore
import NIOHTTP1

/// One request being forwarded: its plan and how far it has got in each direction.
final class Exchange {
    let plan: ForwardPlan
    let clientVersion: HTTPVersion
    let method: HTTPMethod
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

    init(plan: ForwardPlan, clientVersion: HTTPVersion, method: HTTPMethod) {
        self.plan = plan
        self.clientVersion = clientVersion
        self.method = method
        self.clientKeepAlive = plan.clientKeepAlive
    }

    var requestSent: Bool { requestSentAt != nil }

    func touch() { lastActivity = .now() }

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
