// Refresh single-flight across the fleet. A replica's own table (`SessionRefreshTable`)
// lets one of its requests refresh a session; with a store, that refresh first asks the
// session's row: another replica's result is taken, a live lease is waited for (looked at
// again every `leasePoll`), and otherwise this replica takes the lease, keeps it while the
// provider answers, and publishes the result for the others. The lease outlasts the whole
// token request and one store call even if no renewal gets through (a slow store), and is
// renewed every third of its length besides, so neither a slow provider nor a slow store
// lets a second replica spend the same single-use refresh token (oauth2-proxy #3456: a
// 2 s lock never renewed). A replica that cannot reach the store refreshes a
// cookie session alone, as without a store; a shared session it cannot publish is not
// refreshed (the other replicas would spend the token again).
extension LoginProfile {
    /// The shortest refresh lease (`refreshLease(storeDeadline:)` is longer).
    static let refreshLease = Duration.seconds(3)
    /// How often a replica waiting for another's refresh looks at the row again.
    static let leasePoll = Duration.milliseconds(100)

    /// How long this profile's refresh lease lasts unless renewed: the token request's
    /// timeout and one store call more (a renewal can take that long on a slow store),
    /// never less than `refreshLease`.
    func refreshLease(storeDeadline: Duration) -> Duration {
        max(Self.refreshLease, config.timeout + storeDeadline)
    }

    /// The refresh of `session` across the fleet.
    func fleetRefresh(_ session: LoginSession, fleet: FleetStore) async -> RefreshResult {
        let key = storeKey(session.id)
        let lease = refreshLease(storeDeadline: fleet.callDeadline)
        // A lease holder's token request ends within the profile's timeout; waiting longer
        // means the store or that replica is stuck: the old session stands meanwhile.
        let giveUp = ContinuousClock.now + config.timeout + lease * 2
        let grace = Int(Self.refreshGrace.components.seconds)
        while !Task.isCancelled, ContinuousClock.now < giveUp {
            switch await fleet.sessionRefreshStep(key, presenting: session, shared: sharesSessions, lease: lease, grace: grace) {
            case .adopt(let newer):
                return .refreshed(newer)
            case .ended:
                return .ended
            case .refresh(let base, let row):
                let result = await whileLeased(key, lease: lease, fleet: fleet) { await self.requestRefresh(base) }
                switch result {
                case .refreshed(let newer):
                    _ = await fleet.publishRefresh(key, spent: base, refreshed: newer, row: row)
                case .ended:
                    _ = await fleet.publishRefresh(key, spent: base, refreshed: nil, row: row)
                case .unavailable, .storeUnavailable:
                    await fleet.releaseSessionLease(key)
                }
                return result
            case .wait:
                try? await Task.sleep(for: Self.leasePoll)
            case .alone:
                return sharesSessions ? .storeUnavailable : await requestRefresh(session)
            }
        }
        return .unavailable
    }

    /// Runs `refresh` while renewing this replica's lease on row `key`.
    private func whileLeased(_ key: String, lease: Duration, fleet: FleetStore, _ refresh: @escaping @Sendable () async -> RefreshResult) async -> RefreshResult {
        await withTaskGroup(of: RefreshResult?.self) { group in
            group.addTask { await refresh() }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: lease / 3)
                    if Task.isCancelled { break }
                    _ = await fleet.renewSessionLease(key, lease: lease)
                }
                return nil
            }
            var outcome = RefreshResult.unavailable
            for await result in group {
                guard let result else { continue }
                outcome = result
                group.cancelAll()
            }
            return outcome
        }
    }
}
