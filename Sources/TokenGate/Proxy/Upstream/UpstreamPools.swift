import NIOCore

/// The pools of all event loops, looked up by the loop a client connection lives on.
/// Each pool is created on first use, on its own loop, and only ever touched there.
struct UpstreamPools: Sendable {
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamPool?>]
    /// How long an unused upstream connection stays open (see `UpstreamPool.idleTimeout`).
    let idleTimeout: TimeAmount
    /// How every pool opens its connections (see `UpstreamConnector`).
    let connector: any UpstreamConnector

    init(
        group: any EventLoopGroup, idleTimeout: TimeAmount = UpstreamPool.defaultIdleTimeout,
        connector: any UpstreamConnector = BootstrapUpstreamConnector()
    ) {
        self.idleTimeout = idleTimeout
        self.connector = connector
        var pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamPool?>] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeEmptyBox(valueType: UpstreamPool.self, eventLoop: loop)
        }
        self.pools = pools
    }

    /// The pool of `eventLoop`; call on that loop. Nil for a loop outside the group.
    func pool(for eventLoop: any EventLoop) -> UpstreamPool? {
        guard let box = pools[ObjectIdentifier(eventLoop)] else { return nil }
        if let pool = box.value { return pool }
        let pool = UpstreamPool(eventLoop: eventLoop, connector: connector, idleTimeout: idleTimeout)
        box.value = pool
        return pool
    }

    /// Closes idle connections on every loop.
    func closeAllIdle() async {
        for box in pools.values {
            try? await box.eventLoop.submit { box.value?.closeIdle() }.get()
        }
    }
}
