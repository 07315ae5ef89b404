// Refresh single-flight across the fleet. A replica's own table (`SessionRefreshTable`)
// lets one of its requests refresh a session; with a store, that refresh first asks the
// session's row: another replica's result is taken, a live lease is waited for (looked at
// again every `leasePoll`), and otherwise this replica takes the lease, keeps it while the
// provider answers (renewed every third of its length, so a slow provider never lets a
// second replica spend the same single-use refresh token: oauth2-proxy #3456), and
// publishes the result for the others. A replica that cannot reach the store refreshes a
// cookie session alone, as without a store; a shared session it cannot publish is not
// refreshed (the other replicas would spend the token again).
extension LoginProfile {
    /// How long a refresh lease lasts unless renewed.
    static let refreshLease = Duration.seconds(3)
    /// How often a replica waiting for another's refresh looks at the row again.
    static let leasePoll = Duration.milliseconds(100)

    /// The refresh of `session` across the fleet.
    func fleetRefresh(_ session: LoginSession, fleet: FleetStore) async -> RefreshResult {
        let key = storeKey(session.id)
        // A lease holder's token request ends within the profile's timeout; waiting longer
        // means the store or that replica is stuck: the old session stands meanwhile.
        let giveUp = ContinuousClock.now + config.timeout + Self.refreshLease * 2
        let grace = Int(Self.refreshGrace.components.seconds)
        while !Task.isCancelled, ContinuousClock.now < giveUp {
            switch await fleet.sessionRefreshStep(key, presenting: session, shared: sharesSessions, lease: Self.refreshLease, grace: grace) {
            case .adopt(let newer):
                return .refreshed(newer)
            case .ended:
                return .ended
            case .refresh(let base, let row):
                let result = await whileLeased(key, fleet: fleet) { await self.requestRefresh(base) }
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
    private func whileLeased(_ key: String, fleet: FleetStore, _ refresh: @escaping @Sendable () async -> RefreshResult) async -> RefreshResult {
        await withTaskGroup(of: RefreshResult?.self) { group in
            group.addTask { await refresh() }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.refreshLease / 3)
                    if Task.isCancelled { break }
                    _ = await fleet.renewSessionLease(key, lease: Self.refreshLease)
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
