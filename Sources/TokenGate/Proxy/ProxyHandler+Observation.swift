import NIOCore
import NIOHTTP1

// Every answered request is counted and logged exactly once, whoever answered it: the
// upstream, the gateway on its behalf, or nobody because the client left.
extension ProxyHandler {
    /// Records an exchange's outcome in the route's metrics and the access log.
    func record(_ exchange: Exchange, status: Int, bytesOut: Int? = nil, error: String? = nil) {
        guard !exchange.recorded else { return }
        exchange.recorded = true
        let now = NIODeadline.now()
        let route = exchange.plan.route
        let duration = now - exchange.startedAt
        let upstream = exchange.upstreamStartedAt.map { now - $0 }
        let method = exchange.method.rawValue
        route.metrics.count(method: method, status: status)
        route.metrics.requestDuration.record(Duration(duration))
        if let upstream { route.metrics.upstreamDuration.record(Duration(upstream)) }
        let entry = RequestRecord(
            listener: environment.name, route: route.name, method: method, target: exchange.target, status: status,
            bytesIn: exchange.requestBodyBytes, bytesOut: bytesOut ?? exchange.responseBodyBytes,
            duration: duration, upstreamDuration: upstream, clientAddress: peerText, requestID: exchange.plan.requestID,
            subject: exchange.subject, clientID: exchange.clientID, credential: route.credential?.name, error: error
        )
        environment.telemetry.accessLog.log(entry, policy: exchange.accessLog, on: context?.eventLoop)
    }

    /// Records a request the gateway refused before an exchange began; `head` is nil when
    /// not even the head could be read.
    func recordRefusal(_ answer: GatewayError, head: HTTPRequestHead?, startedAt: NIODeadline, policy: AccessLogPolicy, bytesOut: Int) {
        let metrics = answer.route.map { environment.telemetry.metrics.route(listener: environment.name, route: $0) } ?? environment.unmatched
        let method = head?.method.rawValue ?? "-"
        let status = Int(answer.status.code)
        let duration = NIODeadline.now() - startedAt
        metrics.count(method: method, status: status)
        metrics.requestDuration.record(Duration(duration))
        let entry = RequestRecord(
            listener: environment.name, route: answer.route ?? "", method: method, target: head?.uri ?? "-", status: status,
            bytesIn: 0, bytesOut: bytesOut, duration: duration, upstreamDuration: nil, clientAddress: peerText,
            requestID: nil, subject: nil, clientID: nil, credential: nil, error: answer.code
        )
        environment.telemetry.accessLog.log(entry, policy: policy, on: context?.eventLoop)
    }
}

extension Duration {
    init(_ amount: TimeAmount) {
        self = .nanoseconds(amount.nanoseconds)
    }
}
