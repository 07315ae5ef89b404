import Logging
import PostgresNIO

/// The store's tables, created and migrated by the gateway itself. Each migration is a
/// list of statements applied in one transaction under an advisory lock, so replicas
/// starting together migrate once; `tokengate_schema` holds the version reached. A store
/// at a newer version than this build knows is refused: its rows may mean something this
/// gateway would misread.
enum StoreSchema {
    /// The advisory lock every migrating replica takes (an arbitrary constant: "TG" + 1).
    static let lockID: Int64 = 0x5447_0001

    /// The migrations in order; the version after the nth is n + 1.
    static let migrations: [[PostgresQuery]] = [
        [
            """
            CREATE TABLE IF NOT EXISTS tokengate_revocations (
                id bigserial PRIMARY KEY, kind text NOT NULL, key text NOT NULL, profile text,
                at_ms bigint NOT NULL, until timestamptz NOT NULL, made_at timestamptz NOT NULL DEFAULT now())
            """,
            "CREATE INDEX IF NOT EXISTS tokengate_revocations_made_at ON tokengate_revocations (made_at)",
            "CREATE TABLE IF NOT EXISTS tokengate_logout_tokens (key text PRIMARY KEY, until timestamptz NOT NULL)",
        ],
        [
            // Shared credentials: the sealed token and who is fetching the next one.
            """
            CREATE TABLE IF NOT EXISTS tokengate_credentials (
                key text PRIMARY KEY, sealed text, expires_at timestamptz, obtained_at timestamptz,
                lease_holder text, lease_until timestamptz)
            """,
        ],
        [
            // Login sessions: shared sessions themselves, and every session's last refresh
            // (its result, the refresh tokens spent, who is refreshing it now).
            """
            CREATE TABLE IF NOT EXISTS tokengate_sessions (
                key text PRIMARY KEY, sealed text, version bigint NOT NULL DEFAULT 0, spent text[] NOT NULL DEFAULT '{}',
                ended boolean NOT NULL DEFAULT false, refreshed_at timestamptz, seen_at bigint, expires_at timestamptz NOT NULL,
                lease_holder text, lease_until timestamptz)
            """,
            "CREATE INDEX IF NOT EXISTS tokengate_sessions_expires_at ON tokengate_sessions (expires_at)",
        ],
    ]

    static var currentVersion: Int { migrations.count }

    /// The tables the migrations make (every statement can run again: `IF NOT EXISTS`).
    static let tables = ["tokengate_revocations", "tokengate_logout_tokens", "tokengate_credentials", "tokengate_sessions"]

    private static func tablesPresent(on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT count(*) FROM unnest(\(tables)::text[]) AS t(name) WHERE to_regclass(name) IS NOT NULL", logger: logger
        )
        var present = 0
        for try await count in rows.decode(Int.self) { present = count }
        return present == tables.count
    }

    /// What the store's schema is, read on a connection (nil: no tables yet).
    static func version(on connection: PostgresConnection, logger: Logger) async throws -> Int? {
        let exists = try await connection.query("SELECT to_regclass('tokengate_schema') IS NOT NULL", logger: logger)
        var found = false
        for try await present in exists.decode(Bool.self) { found = present }
        guard found else { return nil }
        let rows = try await connection.query("SELECT coalesce(max(version), 0) FROM tokengate_schema", logger: logger)
        var version = 0
        for try await value in rows.decode(Int.self) { version = value }
        return version
    }

    /// Brings the schema to `currentVersion`; refuses a newer one. A read-only server is
    /// not written: it must already be current (a standby of a migrated primary).
    static func migrate(_ connection: PostgresConnection, readOnly: Bool, logger: Logger) async throws(StoreProblem) {
        do {
            if let version = try await version(on: connection, logger: logger) {
                if version > currentVersion { throw StoreProblem.newerSchema(version) }
                if version == currentVersion, try await tablesPresent(on: connection, logger: logger) { return }
            }
            if readOnly { throw StoreProblem.readOnly }
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockID))", logger: logger)
                try await connection.query("CREATE TABLE IF NOT EXISTS tokengate_schema (version integer NOT NULL)", logger: logger)
                let version = try await Self.version(on: connection, logger: logger) ?? 0
                if version > currentVersion { throw StoreProblem.newerSchema(version) }
                // A table dropped from a current schema is made again with the rest.
                let complete = try await tablesPresent(on: connection, logger: logger)
                for (index, statements) in migrations.enumerated() where index >= version || !complete {
                    for statement in statements { try await connection.query(statement, logger: logger) }
                    if index >= version {
                        try await connection.query("INSERT INTO tokengate_schema (version) VALUES (\(index + 1))", logger: logger)
                    }
                }
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        } catch let problem as StoreProblem {
            throw problem
        } catch {
            throw StoreProblem(error)
        }
    }
}

/// Why the store is not usable now, in words an operator can act on (never a value a
/// statement carried).
enum StoreProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The store's schema is newer than this gateway knows.
    case newerSchema(Int)
    /// The server accepts no writes (`transaction_read_only` is on: a standby).
    case readOnly
    /// A call took longer than the store's deadline.
    case timedOut
    /// The store's tables are gone (an emptied or replaced database): they are made again.
    case missingTables
    /// The server or the connection failed.
    case failed(String)

    init(_ error: any Error) {
        if let problem = error as? StoreProblem {
            self = problem
        } else if let psql = error as? PSQLError {
            if psql.serverInfo?[.sqlState] == "42P01" {
                self = .missingTables
            } else if let message = psql.serverInfo?[.message] {
                self = .failed("the server said: " + String(message.prefix(200)))
            } else {
                self = .failed("\(psql.code)")
            }
        } else {
            self = .failed(String("\(type(of: error))".prefix(80)))
        }
    }

    var description: String {
        switch self {
        case .newerSchema(let version):
            return "the store's schema is at version \(version), newer than the \(StoreSchema.currentVersion) this gateway knows; upgrade the gateway"
        case .readOnly: return "the server is read-only (transaction_read_only is on); the gateway writes only to a primary"
        case .timedOut: return "the store did not answer in time"
        case .missingTables: return "the store's tables are missing (an emptied or replaced database); making them again"
        case .failed(let reason): return reason
        }
    }
}
