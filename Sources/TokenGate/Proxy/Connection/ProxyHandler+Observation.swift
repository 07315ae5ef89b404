import NIOCore
import NIOHTTP1

// Every answered request is counted and logged exactly once, whoever answered it: the
// upstream, the gateway on its behalf, or nobody because the client left.
extension ProxyHandler {
    /// Records an exchange's outcome in the route's metrics and the access log. `error` is
    /// the gateway's answer (or why there was none); the log names it only when it is an
    /// error (`AnswerCode.accessLogError`).
    func record(_ exchange: Exchange, status: Int, bytesOut: Int? = nil, error: AnswerCode? = nil) {
        guard !exchange.recorded else { return }
        exchange.recorded = true
        // The loop's clock, as the exchange's start was read (the same clock in production).
        let now = context?.eventLoop.now ?? .now()
        let route = exchange.plan.route
        let duration = now - exchange.startedAt
        let upstream = exchange.upstreamStartedAt.map { now - $0 }
        let method = exchange.method.rawValue
        route.metrics.count(method: method, status: status)
        route.metrics.requestDuration.record(duration)
        if let upstream { route.metrics.upstreamDuration.record(upstream) }
        let entry = RequestRecord(
            listener: environment.name, route: route.name, method: method, target: exchange.target, status: status,
            bytesIn: exchange.requestBodyBytes, bytesOut: bytesOut ?? exchange.responseBodyBytes,
            duration: duration, upstreamDuration: upstream, clientAddress: peerText, requestID: exchange.plan.requestID,
            subject: exchange.subject, clientID: exchange.clientID, credential: route.credential?.name, error: error?.accessLogError,
            version: exchange.clientVersion
        )
        environment.telemetry.accessLog.log(entry, policy: exchange.accessLog, on: context?.eventLoop)
    }

    /// Records a request the gateway refused before an exchange began; `head` is nil when
    /// not even the head could be read.
    func recordRefusal(_ answer: GatewayAnswer, head: HTTPRequestHead?, startedAt: NIODeadline, policy: AccessLogPolicy, bytesOut: Int) {
        environment.recordRefusal(
            answer, head: head, startedAt: startedAt, policy: policy, bytesOut: bytesOut, clientAddress: peerText, eventLoop: context?.eventLoop
        )
    }
}

extension ListenerEnvironment {
    /// Counts and logs a request refused before any exchange began (under the route the
    /// answer names, or none). `policy` defaults to the current snapshot's.
    func recordRefusal(
        _ answer: GatewayAnswer, head: HTTPRequestHead?, startedAt: NIODeadline, policy: AccessLogPolicy? = nil, bytesOut: Int,
        clientAddress: String, eventLoop: (any EventLoop)?
    ) {
        let metrics = answer.route.map { telemetry.metrics.route(listener: name, route: $0) } ?? unmatched
        let method = head?.method.rawValue ?? "-"
        let status = Int(answer.status.code)
        let duration = (eventLoop?.now ?? .now()) - startedAt
        metrics.count(method: method, status: status)
        metrics.requestDuration.record(duration)
        let entry = RequestRecord(
            listener: name, route: answer.route ?? "", method: method, target: head?.uri ?? "-", status: status,
            bytesIn: 0, bytesOut: bytesOut, duration: duration, upstreamDuration: nil, clientAddress: clientAddress,
            requestID: nil, subject: nil, clientID: nil, credential: nil, error: answer.code.accessLogError,
            version: head?.version ?? .http1_1
        )
        telemetry.accessLog.log(entry, policy: policy ?? snapshots.current.accessLog, on: eventLoop)
    }
}

extension Duration {
    init(_ amount: TimeAmount) {
        self = .nanoseconds(amount.nanoseconds)
    }
}
