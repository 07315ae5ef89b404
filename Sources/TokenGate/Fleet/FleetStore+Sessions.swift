import Logging
import PostgresNIO

// Login sessions in the fleet's store (`tokengate_sessions`, one row per session, keyed
// by a digest of the profile and session id). With `session.store: "shared"` the row holds
// the sealed session and the cookie only its sealed id; with cookie sessions the row is
// made by the session's first refresh and holds the session that refresh produced. Either
// way a refresh takes the row's lease, renewed while the provider is slow, and publishes
// its result, so a request on any replica gets the new session instead of spending the
// old, single-use refresh token a second time.
extension FleetStore {
    /// A shared session read from the store.
    enum SessionRead: Sendable, Equatable {
        case found(LoginSession)
        /// No such session (logged out, expired, or never stored).
        case absent
        /// The store cannot say now.
        case unavailable
    }

    /// What a replica whose session is due for refresh does next.
    enum SessionRefreshStep: Sendable, Equatable {
        case adopt(LoginSession)
        case ended
        /// This replica holds the lease: ask the provider with this session's refresh token,
        /// then `publishRefresh` with `row` (or `releaseSessionLease`).
        case refresh(LoginSession, row: StoredSessionRow)
        /// Another replica holds the lease: ask again shortly.
        case wait
        /// The store cannot say (down, read-only, no seal key).
        case alone
    }

    /// The row key of session `id` of login profile `profile`.
    static func sessionKey(profile: String, id: String) -> String {
        ShortDigest("session:" + profile + "\u{0}" + id).hex
    }

    private func sealSession(_ session: LoginSession, key: String) -> String? {
        sealer?.seal(session.encoded(), cookieName: "session:" + key)
    }

    private func openSession(_ sealed: String?, key: String) -> LoginSession? {
        guard let sealed, let plaintext = sealer?.open(sealed, cookieName: "session:" + key) else { return nil }
        return LoginSession.decode(plaintext)
    }

    /// Stores a new shared session (at login): false when the store cannot take it.
    func storeSession(_ key: String, _ session: LoginSession) async -> Bool {
        guard takesWrites, let sealed = sealSession(session, key: key) else { return false }
        do {
            _ = try await writeCall("session_write") { connection, logger in
                try await connection.query("""
                    INSERT INTO tokengate_sessions (key, sealed, expires_at, seen_at) VALUES (\(key), \(sealed), to_timestamp(\(Double(session.expiresAt))), \(session.seenAt))
                    ON CONFLICT (key) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at, seen_at = excluded.seen_at, ended = false
                    """, logger: logger)
            }
            return true
        } catch {
            return false
        }
    }

    /// Reads a shared session; its last request time is the latest any replica saw.
    func readSession(_ key: String) async -> SessionRead {
        guard readable else { return .unavailable }
        do {
            return try await call("session_read") { client, logger in
                let rows = try await client.query(
                    "SELECT sealed, ended, seen_at FROM tokengate_sessions WHERE key = \(key) AND expires_at > now()", logger: logger
                )
                var read = SessionRead.absent
                for try await (sealed, ended, seenAt) in rows.decode((String?, Bool, Int64?).self) {
                    guard !ended, var session = self.openSession(sealed, key: key) else { continue }
                    session.seenAt = max(session.seenAt, Int(clamping: seenAt ?? 0))
                    read = .found(session)
                }
                return read
            }
        } catch {
            return .unavailable
        }
    }

    /// Records that a shared session was used at `seenAt` (its idle timeout counts from the
    /// latest use on any replica).
    func touchSession(_ key: String, seenAt: Int) async {
        guard takesWrites else { return }
        _ = try? await writeCall("session_touch") { connection, logger in
            try await connection.query(
                "UPDATE tokengate_sessions SET seen_at = greatest(coalesce(seen_at, 0), \(seenAt)) WHERE key = \(key)", logger: logger
            )
        }
    }

    /// Deletes a session's row (its logout; the revocation row is what ends it everywhere).
    func forgetSession(_ key: String) async {
        guard takesWrites else { return }
        _ = try? await writeCall("session_delete") { connection, logger in
            try await connection.query("DELETE FROM tokengate_sessions WHERE key = \(key)", logger: logger)
        }
    }

    /// The next step of the refresh of the session a request presented (`presenting`, due):
    /// the stored result of another replica's refresh, the lease to make it here, or a wait
    /// for the replica holding the lease. The lease is taken only on the row version read,
    /// so a refresh published in between is read, not made again.
    func sessionRefreshStep(_ key: String, presenting: LoginSession, shared: Bool, lease: Duration, grace: Int) async -> SessionRefreshStep {
        guard takesWrites, sealer != nil else { return .alone }
        let holder = replicaID
        let leaseSeconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        do {
            return try await writeCall("session_lease") { connection, logger in
                let rows = try await connection.query("""
                    SELECT sealed, version, spent, ended, extract(epoch FROM now() - refreshed_at)::bigint,
                        coalesce(lease_until > now() AND lease_holder <> \(holder), false)
                    FROM tokengate_sessions WHERE key = \(key)
                    """, logger: logger)
                var row: StoredSessionRow?
                for try await (sealed, version, spent, ended, ago, leased) in rows.decode((String?, Int64, [String], Bool, Int64?, Bool).self) {
                    row = StoredSessionRow(
                        session: self.openSession(sealed, key: key), version: version, spent: spent, ended: ended,
                        refreshedAgo: ago.map { Int(clamping: $0) }, leasedByOther: leased
                    )
                }
                let decision = StoredSessionRow.decide(row, presenting: presenting, shared: shared, grace: grace, wallNow: WallClock.secondsSinceEpoch())
                let base: LoginSession
                switch decision {
                case .adopt(let session): return .adopt(session)
                case .ended: return .ended
                case .refresh(let session): base = session
                }
                if row?.leasedByOther == true { return .wait }
                let seen = row?.version ?? -1
                let taken = try await connection.query("""
                    INSERT INTO tokengate_sessions (key, expires_at, lease_holder, lease_until)
                    VALUES (\(key), to_timestamp(\(Double(base.expiresAt))), \(holder), now() + make_interval(secs => \(leaseSeconds)))
                    ON CONFLICT (key) DO UPDATE SET lease_holder = excluded.lease_holder, lease_until = excluded.lease_until
                    WHERE (tokengate_sessions.lease_until IS NULL OR tokengate_sessions.lease_until < now()
                           OR tokengate_sessions.lease_holder = excluded.lease_holder)
                      AND tokengate_sessions.version = \(seen)
                    RETURNING key
                    """, logger: logger)
                var leased = false
                for try await _ in taken { leased = true }
                let empty = StoredSessionRow(session: nil, version: 0, spent: [], ended: false, refreshedAgo: nil, leasedByOther: false)
                return leased ? .refresh(base, row: row ?? empty) : .wait
            }
        } catch {
            return .alone
        }
    }

    /// Keeps this replica's lease on the session's row for another `lease`: false when it
    /// is no longer this replica's (or the store cannot say).
    func renewSessionLease(_ key: String, lease: Duration) async -> Bool {
        let holder = replicaID
        let leaseSeconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        do {
            return try await writeCall("session_lease") { connection, logger in
                let rows = try await connection.query("""
                    UPDATE tokengate_sessions SET lease_until = now() + make_interval(secs => \(leaseSeconds))
                    WHERE key = \(key) AND lease_holder = \(holder) RETURNING key
                    """, logger: logger)
                var renewed = false
                for try await _ in rows { renewed = true }
                return renewed
            }
        } catch {
            return false
        }
    }

    /// Publishes the refresh this replica made under its lease (`refreshed`, or nil: the
    /// provider refused it and the session is over), remembers the refresh token it spent,
    /// and ends the lease. False when the lease was no longer this replica's.
    func publishRefresh(_ key: String, spent: LoginSession, refreshed: LoginSession?, row: StoredSessionRow) async -> Bool {
        let sealed = refreshed.flatMap { sealSession($0, key: key) }
        if refreshed != nil && sealed == nil { return false }
        let holder = replicaID
        let digests = row.spending(spent)
        let ended = refreshed == nil
        let expiresAt = Double((refreshed ?? spent).expiresAt)
        do {
            return try await writeCall("session_publish") { connection, logger in
                let rows = try await connection.query("""
                    UPDATE tokengate_sessions SET sealed = \(sealed), spent = \(digests), ended = \(ended), refreshed_at = now(),
                        version = version + 1, expires_at = to_timestamp(\(expiresAt)), lease_holder = NULL, lease_until = NULL
                    WHERE key = \(key) AND lease_holder = \(holder) RETURNING key
                    """, logger: logger)
                var published = false
                for try await _ in rows { published = true }
                return published
            }
        } catch {
            return false
        }
    }

    /// Ends this replica's lease without a result (the provider could not be asked).
    func releaseSessionLease(_ key: String) async {
        let holder = replicaID
        _ = try? await writeCall("session_release") { connection, logger in
            try await connection.query(
                "UPDATE tokengate_sessions SET lease_holder = NULL, lease_until = NULL WHERE key = \(key) AND lease_holder = \(holder)", logger: logger
            )
        }
    }
}
