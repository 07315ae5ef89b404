import NIOConcurrencyHelpers

// `session.store: "shared"`: the sealed session lives in the fleet's store and the cookie
// holds only its sealed id, so any replica serves it, however large its tokens. Each
// replica keeps the sessions it read for `sharedFreshness` (the profile's LRU `store`,
// bounded by `max_sessions`); revocations reach it at once through the revocation
// snapshot, and refreshes through the store's refresh row. A session the store cannot
// be asked for is answered 503 with `Retry-After` (a page for a page load), never sent to
// log in again.
extension LoginProfile {
    /// How long a replica serves a shared session it read before reading it again.
    static let sharedFreshness = Duration.seconds(30)

    /// What a request's cookies come to.
    enum SessionLookup: Sendable, Equatable {
        case found(LoginSession)
        case none
        /// A shared session this replica has not read lately: read it (`loadSession`).
        case stored(id: String)
    }

    var sharesSessions: Bool { config.sessionStore == .shared }

    /// The row key of session `id` in the fleet's store.
    func storeKey(_ id: String) -> String { FleetStore.sessionKey(profile: name, id: id) }

    /// Reads shared session `id`: `waiter` gets the store's answer on the control plane,
    /// or the answer now (`.unavailable`: the profile cannot take the work). Requests for
    /// the same session share one read.
    func loadSession(_ id: String, waiter: @escaping @Sendable (FleetStore.SessionRead) -> Void) -> FleetStore.SessionRead? {
        let first = sharedLoads.withLockedValue { loads -> Bool? in
            if var waiting = loads[id] {
                guard waiting.count < JWTProfile.maxWaiting else { return nil }
                waiting.append(waiter)
                loads[id] = waiting
                return false
            }
            guard loads.count < config.maxSessions else { return nil }
            loads[id] = [waiter]
            return true
        }
        switch first {
        case nil: return .unavailable
        case false?: return nil
        case true?:
            if submit(.loadSession(id)) != nil { finishLoad(id, with: .unavailable) }
            return nil
        }
    }

    /// The load job: asks the store, keeps what it found, answers every waiter.
    func performLoad(_ id: String) async {
        guard let fleet = fleetStore else { return finishLoad(id, with: .unavailable) }
        finishLoad(id, with: await fleet.readSession(storeKey(id)))
    }

    func finishLoad(_ id: String, with read: FleetStore.SessionRead) {
        if case .found(let session) = read { remember(session) }
        let waiters = sharedLoads.withLockedValue { $0.removeValue(forKey: id) } ?? []
        for waiter in waiters { waiter(read) }
    }

    /// Keeps a shared session read or changed here for `sharedFreshness`.
    func remember(_ session: LoginSession) {
        store.withLockedValue { $0.set(session, for: session.id, expires: .now + Self.sharedFreshness) }
    }

    /// Stores a new shared session (the code exchange's end): false when the store cannot
    /// take it now.
    func storeShared(_ session: LoginSession) async -> Bool {
        guard let fleet = fleetStore, await fleet.storeSession(storeKey(session.id), session) else { return false }
        remember(session)
        return true
    }

    /// The answer to a request whose shared session cannot be read now: 503 with
    /// `Retry-After`, and for a page load a page that says so (not a login loop).
    static func storeUnavailable(route: String, page: Bool) -> GatewayAnswer {
        GatewayAnswer(
            .sessionStoreUnavailable, route: route, headers: [("Retry-After", "5")],
            page: page ? """
                <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Try again shortly</title>
                <meta http-equiv="refresh" content="5"></head><body><h1>Try again shortly</h1>
                <p>Your session cannot be read right now. You are still signed in; this page reloads in a few seconds.</p></body></html>
                """ : nil
        )
    }
}
