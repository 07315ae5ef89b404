import NIOCore
import NIOHTTP1

/// One request being forwarded: its plan and the data that moves with it (held body, the
/// replay copy, what the access log records). Where the request stands, and when its
/// waits end, is the connection's `ConnectionStateMachine`'s business, not this object's.
final class Exchange {
    let plan: ForwardPlan
    let clientVersion: HTTPVersion
    let method: HTTPMethod
    /// The client's request target, for the access log.
    let target: String
    /// When the head arrived, for the access log and metrics (the machine counts the waits).
    let startedAt: NIODeadline
    /// The snapshot's access log settings, read once with the route.
    let accessLog: AccessLogPolicy
    var upstream: UpstreamConnection?
    /// Body parts that arrived before the upstream connection was ready (bounded: the
    /// client is not read while they wait, so at most one read's worth).
    var pendingBody: [ByteBuffer] = []
    /// The body of a request the gateway answers itself (a back-channel logout), copied into
    /// one buffer as it arrives; nil unless `readsBodyItself(limit:allocator:)` was called.
    private(set) var ownBody: ReplayCopy?
    var requestBodyBytes = 0
    /// The token injected into this request, to tell the profile which one an upstream refused.
    var injectedToken: Redacted?
    /// A copy of a small request body in one buffer, so the request can be sent again after
    /// an upstream 401 with a fresh token; nil once the body outgrows `replayLimit`. Copied,
    /// never sliced: a slice would pin the whole read buffer it came from.
    var replayBody: ReplayCopy?
    /// When the first upstream connection was asked for.
    var upstreamStartedAt: NIODeadline?
    /// The upstream's response status, once its head has been passed on.
    var responseStatus: Int?
    /// A gRPC call on an HTTP/2 stream: the gateway's own answers are gRPC statuses.
    var isGRPC = false
    /// The upstream response's trailer fields, when it sent any (an HTTP/2 upstream).
    var responseTrailers: HTTPHeaders?
    var responseBodyBytes = 0
    /// The gateway writes the response body to the client in chunks (see `ResponseRules.ClientHead`).
    var chunksResponse = false
    /// The injected credential field, sent after the planned head (replaced on a retry).
    var credentialField: (name: String, value: String)?
    /// The caller's identity fields from validation, sent after the planned head.
    var identityFields: [(name: String, value: String)] = []
    /// Fields the gateway adds to the client's response (a login session's refreshed
    /// cookies).
    var responseFields: [(name: String, value: String)] = []
    /// Called once when the request's end arrives while the gateway reads its body.
    var onRequestEnd: (() -> Void)?
    /// The validated caller, for the access log.
    var subject: String?
    var clientID: String?
    /// Recorded in metrics and the access log (exactly once).
    var recorded = false
    /// The request's admission while it waits for a lookup (`ProxyHandler+Admission`); nil
    /// otherwise. Held inline: waiting allocates nothing more for it.
    var admission: Admission?

    /// The largest body kept for a replay after an upstream 401.
    static let replayLimit = 64 * 1024

    init(plan: ForwardPlan, head: HTTPRequestHead, startedAt: NIODeadline, accessLog: AccessLogPolicy, allocator: ByteBufferAllocator) {
        self.plan = plan
        self.clientVersion = head.version
        self.method = head.method
        self.target = head.uri
        self.startedAt = startedAt
        self.accessLog = accessLog
        if plan.route.credential != nil, (plan.contentLength ?? 0) <= Self.replayLimit {
            replayBody = ReplayCopy(capacity: min(plan.contentLength ?? 1024, Self.replayLimit), limit: Self.replayLimit, allocator: allocator)
        }
    }

    /// What the connection's state machine needs to know of this request.
    var facts: ConnectionStateMachine.RequestFacts {
        ConnectionStateMachine.RequestFacts(
            hasBody: plan.hasBody, keepAlive: plan.clientKeepAlive, expectsContinue: plan.expectsContinue,
            endsParsing: plan.endsParsing, mayUpgrade: plan.mayUpgrade, replayable: plan.isReplayable,
            maxBodyBytes: plan.route.config.maxBodyBytes, responseHeaderTimeout: plan.route.responseHeaderTimeout,
            idleTimeout: plan.route.idleTimeout
        )
    }

    /// What the machine needs to know, at an upstream 401, of sending this request again.
    var retryFacts: ConnectionStateMachine.RetryFacts {
        ConnectionStateMachine.RetryFacts(
            injectsCredential: plan.route.credential != nil, bodyKept: replayBody != nil, tokenInjected: injectedToken != nil
        )
    }

    /// A new attempt begins (the machine decided a retry): the body to send is the replay
    /// copy, or nothing. The data's half of the machine's one per-attempt reset.
    func beginAttempt() {
        if let replay = replayBody?.buffer, replay.readableBytes > 0 {
            pendingBody = [replay]
        } else {
            pendingBody = []
        }
    }

    /// Keeps a body part that cannot be sent anywhere yet: into `ownBody` when the gateway
    /// reads the body itself, else as it came, until the upstream connection is ready.
    func hold(_ buffer: ByteBuffer) {
        if ownBody != nil {
            // Within the limit: the state machine refused a larger body before this part.
            _ = ownBody?.append(buffer)
        } else {
            pendingBody.append(buffer)
        }
    }

    /// The gateway reads this request's body itself, up to `limit` bytes: from now on its
    /// parts are copied into one buffer (`ownBody`), as are any already held. Kept as they
    /// came, the parts would be slices, each keeping the whole read buffer it came in alive:
    /// a body sent in 1-byte reads would pin about a hundred times its size, unauthenticated,
    /// until the answer.
    func readsBodyItself(limit: Int, allocator: ByteBufferAllocator) {
        guard ownBody == nil else { return }
        var copy = ReplayCopy(capacity: min(plan.contentLength ?? 1024, limit), limit: limit, allocator: allocator)
        for part in pendingBody { _ = copy.append(part) }
        pendingBody.removeAll()
        ownBody = copy
    }

    /// Copies `buffer` into the replay copy while the body stays small.
    func keepForReplay(_ buffer: ByteBuffer) {
        guard replayBody != nil else { return }
        if replayBody?.append(buffer) == false { replayBody = nil }
    }

    /// Puts `token` into the upstream request, replacing any earlier one. (The planner
    /// already dropped the client's own field of this name.)
    func inject(_ credential: Admission.Credential) {
        credentialField = (credential.header, credential.headerValue.revealed)
        injectedToken = credential.token
    }

    /// This attempt's whole head, in one buffer: the planned bytes (copied, so a retry
    /// starts from them again), then the credential, the identity fields and the empty
    /// line. Invalid (never sent) if any of those has a byte a field may not have.
    func upstreamHead() -> HTTPHeadBuilder {
        var head = HTTPHeadBuilder(continuing: plan.upstreamHead)
        if let credentialField { head.preverifiedField(credentialField.name, credentialField.value) }
        for field in identityFields { head.field(field.name, field.value) }
        head.end()
        return head
    }

    /// The gateway's answer when `wait` expires.
    func timeoutError(_ wait: ConnectionStateMachine.Wait) -> GatewayAnswer {
        let route = plan.route
        switch wait {
        case .admission:
            return GatewayAnswer(.admissionTimeout, detail: "validating the request or obtaining its credential took longer than \(route.config.timeouts.responseHeader)", route: route.name, headers: [("Retry-After", "1")])
        case .responseHead:
            return GatewayAnswer(.upstreamTimeout, detail: "the upstream sent no response within \(route.config.timeouts.responseHeader)", route: route.name)
        case .idle, .head, .keepAlive:
            // `.head` and `.keepAlive` are the connection's waits, never an exchange's.
            return GatewayAnswer(.upstreamTimeout, detail: "no data moved for \(route.config.timeouts.idle)", route: route.name)
        }
    }
}
