import NIOCore
import NIOHTTP1
import NIOPosix

/// What the admin listener can answer, independent of sockets so it is testable alone.
struct AdminRoutes: Sendable {
    /// True once the configuration is loaded and every listener is bound.
    var isReady: @Sendable () -> Bool
    /// `/status` JSON.
    var status: @Sendable () -> String
    /// `/metrics`: Prometheus text exposition format.
    var metrics: @Sendable () -> String
    /// `POST /reload`: queues a reload and hands its outcome (nil: no gateway to reload)
    /// to the callback, so the event loop never waits for it.
    var reload: @Sendable (_ answer: @escaping @Sendable (ReloadOutcome?) -> Void) -> Void
    /// `POST /revoke`: applies the revocation its body names and answers at once.
    var revoke: @Sendable (_ body: [UInt8]) -> Answer = { _ in Answer(GatewayAnswer(.notFound)) }

    /// One answer: a status document (`/status`, `/metrics`, the probes, a reload's
    /// outcome) or one of the gateway's answers from the catalogue (`init(_:)`).
    struct Answer {
        var status: HTTPResponseStatus
        var body: String
        var contentType = "application/json"
    }

    /// `POST /reload` is taken from the gateway's own host only: the admin port may be open
    /// to a cluster for probes and scraping, and a reload is an operator's act (SIGHUP, a
    /// file change, or this endpoint from the machine itself).
    static func mayReload(from peer: IPAddress?) -> Bool {
        peer?.isLoopback ?? false
    }

    static let reloadForbidden = Answer(GatewayAnswer(
        .forbidden, detail: "POST /reload is accepted from the gateway's own host only; send SIGHUP or change the file"
    ))

    static let revokeForbidden = Answer(GatewayAnswer(
        .forbidden, detail: "POST /revoke is accepted from the gateway's own host only (tokengate revoke runs there)"
    ))

    static let revokeTooLarge = Answer(GatewayAnswer(.bodyTooLarge, detail: "a revocation is at most \(RevokeRequest.maxBytes) bytes of JSON"))

    func answer(method: HTTPMethod, path: String) -> Answer {
        if path == "/reload" || path == "/revoke" {
            return Answer(GatewayAnswer(.methodNotAllowed, detail: "use POST"))
        }
        guard method == .GET || method == .HEAD else {
            return Answer(GatewayAnswer(.methodNotAllowed))
        }
        switch path {
        case "/healthz":
            return Answer(status: .ok, body: #"{"status":"ok"}"#)
        case "/status":
            return Answer(status: .ok, body: status())
        case "/metrics":
            return Answer(status: .ok, body: metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case "/readyz":
            return isReady()
                ? Answer(status: .ok, body: #"{"status":"ready"}"#)
                : Answer(status: .serviceUnavailable, body: #"{"status":"not_ready"}"#)
        default:
            return Answer(GatewayAnswer(.notFound))
        }
    }
}

extension AdminRoutes.Answer {
    /// One of the gateway's answers from the catalogue, with the body the proxy sends.
    init(_ answer: GatewayAnswer) {
        self.init(status: answer.status, body: answer.bodyText, contentType: answer.contentType)
    }

    /// Rendered as the proxy renders its answers (`RenderedAnswer`). The exposition format
    /// ends with its own newline; other bodies get one added.
    func rendered(version: HTTPVersion, keepAlive: Bool, method: HTTPMethod, allocator: ByteBufferAllocator) -> RenderedAnswer {
        let text = body.hasSuffix("\n") || body.isEmpty ? body : body + "\n"
        return RenderedAnswer(
            status: status, contentType: contentType, body: allocator.buffer(string: text), version: version, keepAlive: keepAlive, method: method
        )
    }
}

extension AdminRoutes {
    static let misdirected = Answer(GatewayAnswer(.misdirectedRequest))

    /// Refuses a `Host` a DNS-rebinding page would send: anything but an IP literal,
    /// `localhost` or the configured admin host (probes and scrapers use IPs).
    static func hostRefusal(_ host: String?, allowedHost: String) -> Answer? {
        guard let host, let name = RequestPlanner.hostName(host) else { return misdirected }
        if name.isEmpty || name == "localhost" || name == allowedHost || IPAddress(name) != nil { return nil }
        return misdirected
    }

    /// Whether a browser marked the request as coming from another site's page: such a page
    /// must not trigger a reload (a `POST` without preflight is a simple request).
    static func isCrossSite(_ headers: HTTPHeaders) -> Bool {
        if let site = headers.first(name: "sec-fetch-site"), site != "same-origin", site != "none" { return true }
        return headers.first(name: "origin") != nil
    }
}
