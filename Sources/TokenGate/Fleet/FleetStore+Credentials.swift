import FoundationEssentials
import Logging
import PostgresNIO

// Shared credentials (`"shared": true`): one token per profile for the whole fleet. The
// replica whose refresh is due first takes the profile's lease, asks the authorization
// server, and stores the token sealed; the others find it newer than theirs and take it.
// A lease outlives the token request's timeout, so a slow provider never lets a second
// replica in; a replica that cannot reach the store fetches its own.
extension FleetStore {
    /// What a shared credential's refresh should do.
    enum SharedStep: Sendable {
        /// Take this token: another replica fetched it, and it expires later than ours.
        case adopt(IssuedToken)
        /// This replica holds the lease: fetch, then `publish` (or `release`).
        case fetch
        /// Another replica holds the lease: ask again shortly.
        case wait
        /// The store cannot say (down, read-only, no seal key): fetch alone.
        case alone
    }

    /// The sealed form of a shared token: what a request needs, and when it expires.
    struct SharedRecord: Codable {
        var accessToken: String
        var tokenType: String
        var scope: String?
        /// Seconds since the epoch.
        var expiresAt: Int
    }

    /// The next step of shared profile `key`'s refresh, for a replica holding a token that
    /// expires at `holding` (seconds since the epoch; nil: none). `lease`: how long a
    /// fetch may take.
    func sharedStep(_ key: String, holding: Int?, lease: Duration) async -> SharedStep {
        guard takesWrites, let sealer else { return .alone }
        let now = WallClock.secondsSinceEpoch()
        let leaseSeconds = Double(lease.components.seconds) + 1
        let holder = replicaID
        do {
            return try await writeCall("lease") { connection, logger in
                let rows = try await connection.query(
                    "SELECT sealed, extract(epoch FROM expires_at)::bigint FROM tokengate_credentials WHERE key = \(key)", logger: logger
                )
                var sealed: String?
                var storedExpiry: Int64?
                for try await (value, expiry) in rows.decode((String?, Int64?).self) { (sealed, storedExpiry) = (value, expiry) }
                if let adopted = Self.adoptable(sealed, key: key, sealer: sealer, holding: holding, now: now) { return .adopt(adopted) }
                // The lease, unless a live one is another's; and only while the stored token
                // is no newer than ours (else the next read adopts it). A stored token this
                // replica cannot open (sealed with a key it lacks, or damaged) or that is
                // about to expire does not count as newer: it is replaced, not waited for.
                let unusable = sealed != nil ? Int(clamping: storedExpiry ?? 0) : 0
                let threshold = Double(max(holding ?? 0, unusable))
                let taken = try await connection.query("""
                    INSERT INTO tokengate_credentials (key, lease_holder, lease_until) VALUES (\(key), \(holder), now() + make_interval(secs => \(leaseSeconds)))
                    ON CONFLICT (key) DO UPDATE SET lease_holder = excluded.lease_holder, lease_until = excluded.lease_until
                    WHERE (tokengate_credentials.lease_until IS NULL OR tokengate_credentials.lease_until < now() OR tokengate_credentials.lease_holder = excluded.lease_holder)
                      AND (tokengate_credentials.expires_at IS NULL OR tokengate_credentials.expires_at <= to_timestamp(\(threshold)))
                    RETURNING key
                    """, logger: logger)
                var leased = false
                for try await _ in taken { leased = true }
                return leased ? .fetch : .wait
            }
        } catch {
            return .alone
        }
    }

    private static func adoptable(_ sealed: String?, key: String, sealer: CookieSealer, holding: Int?, now: Int) -> IssuedToken? {
        guard let sealed, let plaintext = sealer.open(sealed, cookieName: "credential:" + key),
              let record = try? JSONDecoder().decode(SharedRecord.self, from: Data(plaintext)),
              record.expiresAt > now + 1, record.expiresAt > (holding ?? Int.min)
        else { return nil }
        return IssuedToken(
            accessToken: Redacted(record.accessToken), expiresIn: .seconds(record.expiresAt - now), refreshToken: nil,
            scope: record.scope, tokenType: record.tokenType
        )
    }

    /// Stores the token this replica fetched under its lease, sealed, and ends the lease.
    func publish(_ key: String, token: IssuedToken, expiresAt: Int) async {
        guard let sealer else { return }
        let record = SharedRecord(accessToken: token.accessToken.revealed, tokenType: token.tokenType, scope: token.scope, expiresAt: expiresAt)
        guard let json = try? JSONEncoder().encode(record), let sealed = sealer.seal(Array(json), cookieName: "credential:" + key) else { return }
        let holder = replicaID
        _ = try? await writeCall("publish") { connection, logger in
            try await connection.query("""
                UPDATE tokengate_credentials SET sealed = \(sealed), expires_at = to_timestamp(\(Double(expiresAt))), obtained_at = now(),
                    lease_holder = NULL, lease_until = NULL
                WHERE key = \(key) AND lease_holder = \(holder)
                """, logger: logger)
        }
    }

    /// Ends this replica's lease without a token (its fetch failed): another may try.
    func release(_ key: String) async {
        let holder = replicaID
        _ = try? await writeCall("release") { connection, logger in
            try await connection.query("UPDATE tokengate_credentials SET lease_holder = NULL, lease_until = NULL WHERE key = \(key) AND lease_holder = \(holder)", logger: logger)
        }
    }
}
