import NIOCore

/// What both sides of one tunnel share: byte counts for the access log, the idle
/// timeout (the route's), and closing both sides once either ends.
final class TunnelSession {
    private let timer: LazyDeadlineTimer
    private let idleTimeout: TimeAmount
    private var lastActivity = NIODeadline.now()
    private var bytesFromClient = 0
    private var bytesFromUpstream = 0
    private var closed = false
    private let onClose: (_ bytesIn: Int, _ bytesOut: Int) -> Void
    weak var clientSide: TunnelHandler?
    weak var upstreamSide: TunnelHandler?

    init(eventLoop: any EventLoop, idleTimeout: TimeAmount, onClose: @escaping (_ bytesIn: Int, _ bytesOut: Int) -> Void) {
        self.timer = LazyDeadlineTimer(eventLoop: eventLoop)
        self.idleTimeout = idleTimeout
        self.onClose = onClose
    }

    func start() {
        timer.onExpiry = { [weak self] in self?.idleCheck() }
        timer.set(lastActivity + idleTimeout)
    }

    func moved(_ bytes: Int, from side: TunnelHandler.Side) {
        switch side {
        case .client: bytesFromClient += bytes
        case .upstream: bytesFromUpstream += bytes
        }
        lastActivity = .now()
        timer.set(lastActivity + idleTimeout)
    }

    private func idleCheck() {
        if lastActivity + idleTimeout > .now() {
            timer.set(lastActivity + idleTimeout)
            return
        }
        close()
    }

    /// Closes both sides and records the tunnel, once.
    func close() {
        guard !closed else { return }
        closed = true
        timer.cancel()
        // Each side gets what its partner sent last, for at most as long as a tunnel may idle.
        clientSide?.close(within: idleTimeout)
        upstreamSide?.close(within: idleTimeout)
        onClose(bytesFromClient, bytesFromUpstream)
    }
}
