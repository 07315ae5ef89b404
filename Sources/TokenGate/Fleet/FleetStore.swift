import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The fleet's shared store (PostgreSQL): where replicas write the revocations they make
/// and read everyone else's.
///
/// The hot path never waits on it. A revocation is applied here first and queued
/// (`record`); the writer sends the queue to the store, keeps what it could not send and
/// tries again with backoff, so a revocation made while the store is down reaches the
/// fleet when it is back. Each replica `LISTEN`s for the store's notification and also
/// polls every `revocation_poll_seconds` (a missed notification, a reconnect), handing
/// what it reads to the receiver (`attach`), which updates the in-memory snapshots that
/// admission reads. A replica never writes to a read-only server (`transaction_read_only`
/// is read before every batch).
///
/// Runs as one service of the control plane: the client's connection pool, the sync loop
/// (migration, polls, expiry), the listener and the writer.
final class FleetStore: Service, CustomStringConvertible, Sendable {
    /// What `/status`, `/metrics` and readiness show of the store.
    struct Status: Sendable {
        var up: Bool
        var readOnly: Bool
        var problem: String?
        /// Revocations made here and not yet written.
        var pending: Int
        /// When the last poll succeeded (seconds since the epoch).
        var lastSync: Int?
        var schemaVersion: Int?
    }

    private struct State {
        /// Revocations to write, each with its place in the order they were made.
        var pending = CircularBuffer<(number: Int, revocation: FleetRevocation)>()
        var nextNumber = 0
        /// Back-channel logout tokens this replica accepted while the store could not say
        /// whether another had (key → until): claimed once it is back, so a later replay
        /// anywhere is refused.
        var pendingClaims: [String: Int] = [:]
        var up = false
        var readOnly = false
        var schemaVersion: Int?
        var problem: StoreProblem?
        var lastSeenID: Int64 = 0
        var lastSync: Int?
        var lastExpiry = 0
        /// The outcome of the first sync, once it ran (nil inside: it succeeded).
        var first: StoreProblem??
    }

    /// The most revocations kept for writing while the store is away (each some 150
    /// bytes); past it the oldest unwritten one is dropped and counted.
    static let maxPending = 100_000
    /// The most logout-token claims kept for writing while the store is away.
    static let maxPendingClaims = 10_000
    /// The notification channel.
    static let channel = "tokengate_revocations"

    let config: StoreConfig
    /// Seals what the store keeps of tokens (`seal_keys`); nil without keys.
    let sealer: CookieSealer?
    /// This process among the fleet's replicas (a lease's holder).
    let replicaID = LoginCookies.random()
    let client: PostgresClient
    private let logger: Logger
    private let metrics: StoreMetrics
    private let state = NIOLockedValueBox(State())
    private let writeSignal = WakeSignal()
    private let pollSignal = WakeSignal()
    private let firstSignal = WakeSignal()
    /// Signalled after every batch written (`flush` waits on it).
    private let writtenSignal = WakeSignal()
    private let receiver = NIOLockedValueBox<(@Sendable ([FleetRevocation]) -> Void)?>(nil)
    /// The longest one call to the store may take before it counts as failed.
    let callDeadline: Duration

    var description: String { "fleet store" }

    init(
        _ config: StoreConfig, url: StoreURL, sealKeys: [(id: String, secret: [UInt8])] = [], group: any EventLoopGroup, logger: Logger,
        metrics: StoreMetrics, callDeadline: Duration = .seconds(5)
    ) {
        self.config = config
        self.sealer = sealKeys.isEmpty ? nil : CookieSealer(secrets: sealKeys, scope: CookieScope(profile: "store", issuer: ""), salt: "tokengate store")
        self.logger = logger
        self.metrics = metrics
        self.callDeadline = callDeadline
        let tls: PostgresClient.Configuration.TLS
        switch url.tls {
        case .disable:
            tls = .disable
        case .require where config.caFile == nil:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            tls = .require(configuration)
        case .require:
            // A CA file with `require`: the chain is verified, not the host name (libpq's
            // verify-ca), so a server reached by an address its certificate does not name
            // still connects.
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .noHostnameVerification
            if let caFile = config.caFile { configuration.trustRoots = .file(caFile) }
            tls = .require(configuration)
        case .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile = config.caFile { configuration.trustRoots = .file(caFile) }
            tls = .require(configuration)
        }
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls
        )
        configuration.options.maximumConnections = config.maxConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = callDeadline
        // Dead pooled connections are found within this, and replaced.
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(10))
        // The server ends what the client stopped waiting for (`callDeadline`), and never
        // holds a lock or a transaction for a replica that went quiet.
        let milliseconds = "\(callDeadline.components.seconds * 1000 + callDeadline.components.attoseconds / 1_000_000_000_000_000)"
        configuration.options.additionalStartupParameters = [
            ("application_name", "tokengate"), ("statement_timeout", milliseconds), ("lock_timeout", milliseconds),
            ("idle_in_transaction_session_timeout", milliseconds),
        ]
        var quiet = logger
        quiet.logLevel = .critical
        self.client = PostgresClient(configuration: configuration, eventLoopGroup: group, backgroundLogger: quiet)
    }

    /// Resolves the store's URL secret and builds the store (not yet running).
    static func make(
        _ config: StoreConfig, resolver: SecretResolver, group: any EventLoopGroup, logger: Logger, metrics: StoreMetrics
    ) -> Result<FleetStore, StoreSetupError> {
        let path = ConfigPath.root.key("store").key("postgres").key("url")
        let text: String
        do {
            text = try resolver.resolve(config.url).revealed
        } catch {
            return .failure(StoreSetupError(issue: ConfigIssue(.error, path, "\(error)")))
        }
        var keys: [(id: String, secret: [UInt8])] = []
        for (position, key) in config.sealKeys.enumerated() {
            do {
                keys.append((key.id, Array(try resolver.resolve(key.secret).revealed.utf8)))
            } catch {
                return .failure(StoreSetupError(issue: ConfigIssue(.error, ConfigPath.root.key("store").key("seal_keys").index(position).key("secret"), "\(error)")))
            }
        }
        switch StoreURL.parse(text) {
        case .success(let url):
            if let refusal = transportRefusal(url, config) { return .failure(StoreSetupError(issue: ConfigIssue(.error, path, refusal))) }
            return .success(FleetStore(config, url: url, sealKeys: keys, group: group, logger: logger, metrics: metrics))
        case .failure(let problem):
            return .failure(StoreSetupError(issue: ConfigIssue(.error, path, "the store URL \(problem)")))
        }
    }

    /// Why `url` may not be used as it stands, or nil: off loopback the store's password and
    /// sealed rows cross the network, so only a verified TLS connection is accepted unless
    /// `insecure_transport` says the network is trusted. A `require` with a `ca_file` is
    /// verified (a CA file is only there to verify).
    static func transportRefusal(_ url: StoreURL, _ config: StoreConfig) -> String? {
        guard !url.isLoopback, !config.insecureTransport else { return nil }
        switch url.tls {
        case .verifyFull: return nil
        case .require where config.caFile != nil: return nil
        case .require, .disable:
            return "the store URL asks for sslmode=\(url.tls.rawValue) to a server that is not on loopback: its password and rows would "
                + "cross the network \(url.tls == .disable ? "in clear" : "to an unverified server"); use sslmode=verify-full (with "
                + "store.postgres.ca_file for a private CA), or set store.postgres.insecure_transport: true on a network you trust"
        }
    }

    /// Waits (at most `limit`) for the first sync with the store to end: nil when it
    /// succeeded or has not ended, else why it failed.
    func firstSync(within limit: Duration) async -> StoreProblem? {
        if let done = state.withLockedValue({ $0.first }) { return done }
        await firstSignal.wait(until: .now + limit)
        return state.withLockedValue { $0.first } ?? nil
    }

    /// Where the revocations read from the store go (the gateway's login profiles and
    /// token snapshot).
    func attach(_ receive: @escaping @Sendable ([FleetRevocation]) -> Void) {
        receiver.withLockedValue { $0 = receive }
    }

    var status: Status {
        state.withLockedValue { state in
            Status(
                up: state.up, readOnly: state.readOnly, problem: state.problem?.description, pending: state.pending.count,
                lastSync: state.lastSync, schemaVersion: state.schemaVersion
            )
        }
    }

    /// Queues a revocation made here (already applied here) for the fleet.
    func record(_ revocation: FleetRevocation) {
        let dropped = state.withLockedValue { state -> Bool in
            state.pending.append((state.nextNumber, revocation))
            state.nextNumber += 1
            guard state.pending.count > Self.maxPending else { return false }
            _ = state.pending.popFirst()
            return true
        }
        if dropped { metrics.operation("record", outcome: "dropped") }
        writeSignal.signal()
    }

    /// Whether the store is up, writable and migrated (what a claim or a lease needs).
    var takesWrites: Bool { state.withLockedValue { $0.up && !$0.readOnly && $0.schemaVersion != nil } }

    /// Whether the store is up and migrated (what a read needs; a standby serves reads).
    var readable: Bool { state.withLockedValue { $0.up && $0.schemaVersion != nil } }

    /// Waits (at most `limit`) until what `record` queued is written, while the store
    /// takes writes: a gateway shutting down hands its last revocations to the fleet.
    func flush(within limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline, state.withLockedValue({ !($0.pending.isEmpty && $0.pendingClaims.isEmpty) && $0.up && !$0.readOnly }) {
            writeSignal.signal()
            await writtenSignal.wait(until: deadline)
        }
    }

    /// Claims a back-channel logout token's `jti` digest for the fleet: true when no
    /// replica used it before, false when one did, nil when the store cannot say (the
    /// caller falls back to what it knows itself).
    func claimLogoutToken(_ key: String, until: Int) async -> Bool? {
        guard takesWrites else {
            queueClaim(key, until: until)
            return nil
        }
        do {
            let claimed = try await writeCall("claim") { connection, logger in
                let rows = try await connection.query(
                    """
                    INSERT INTO tokengate_logout_tokens (key, until) VALUES (\(key), to_timestamp(\(Double(until))))
                    ON CONFLICT (key) DO NOTHING RETURNING key
                    """, logger: logger)
                var inserted = false
                for try await _ in rows { inserted = true }
                return inserted
            }
            return claimed
        } catch {
            queueClaim(key, until: until)
            return nil
        }
    }

    /// Keeps a logout token's claim for the writer (bounded; past the bound it is counted
    /// as dropped and only this replica remembers the token).
    private func queueClaim(_ key: String, until: Int) {
        let kept = state.withLockedValue { state -> Bool in
            guard state.pendingClaims.count < Self.maxPendingClaims || state.pendingClaims[key] != nil else { return false }
            state.pendingClaims[key] = until
            return true
        }
        if !kept { metrics.operation("claim", outcome: "dropped") }
        writeSignal.signal()
    }

    /// Writes up to 100 queued logout-token claims (one statement; a key another replica
    /// claimed meanwhile stays its). False when the store refused them.
    private func writeClaims() async -> Bool {
        let claims = state.withLockedValue { Array($0.pendingClaims.prefix(100)) }
        guard !claims.isEmpty else { return true }
        let keys = claims.map(\.key)
        let untils = claims.map { Double($0.value) }
        do {
            try await writeCall("claim") { connection, logger in
                try await connection.query("""
                    INSERT INTO tokengate_logout_tokens (key, until)
                    SELECT key, to_timestamp(until) FROM unnest(\(keys)::text[], \(untils)::float8[]) AS t(key, until)
                    ON CONFLICT (key) DO NOTHING
                    """, logger: logger)
            }
        } catch {
            return false
        }
        state.withLockedValue { state in
            for key in keys { state.pendingClaims[key] = nil }
        }
        writtenSignal.signal()
        return true
    }

    func run() async {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.client.run() }
                group.addTask { await self.syncLoop() }
                group.addTask { await self.listenLoop() }
                group.addTask { await self.writeLoop() }
            }
        }
    }

    // MARK: Loops

    /// Migrates when it can, then polls: at every notification, every poll interval while
    /// the store is up, and with backoff while it is not.
    private func syncLoop() async {
        var backoff = StoreBackoff()
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                try await sync()
                finishFirst(nil)
                backoff.reset()
                await pollSignal.wait(until: started + config.revocationPoll)
            } catch {
                if Task.isCancelled { return }
                let problem = StoreProblem(error)
                markDown(problem)
                finishFirst(problem)
                await pollSignal.wait(until: started + backoff.next())
            }
        }
    }

    /// One round: the schema (first time, or after it was not usable), the new rows, and
    /// once a minute the expired rows removed.
    private func sync() async throws {
        let needsSchema = state.withLockedValue { $0.schemaVersion == nil }
        let readOnly = try await call("health") { client, logger in
            try await client.withConnection { connection in
                let readOnly = try await Self.isReadOnly(connection, logger: logger)
                // A standby of a store never migrated throws `.readOnly`: nothing to read yet.
                if needsSchema { try await StoreSchema.migrate(connection, readOnly: readOnly, logger: logger) }
                return readOnly
            }
        }
        let wasUsable = state.withLockedValue { state -> Bool in
            defer {
                state.readOnly = readOnly
                state.schemaVersion = StoreSchema.currentVersion
            }
            return state.up && !state.readOnly
        }
        try await poll()
        markUp(readOnly: readOnly)
        if !readOnly && !wasUsable { writeSignal.signal() }
        let now = WallClock.secondsSinceEpoch()
        if !readOnly, state.withLockedValue({ $0.lastExpiry + 60 <= now }) {
            try await writeCall("expire") { connection, logger in
                try await connection.query("DELETE FROM tokengate_revocations WHERE until < now() - interval '1 minute'", logger: logger)
                try await connection.query("DELETE FROM tokengate_logout_tokens WHERE until < now() - interval '1 minute'", logger: logger)
                try await connection.query("DELETE FROM tokengate_sessions WHERE expires_at < now() - interval '1 minute'", logger: logger)
                // A credential no replica refreshes any more (its profile renamed or gone):
                // kept a day after its token expired, for a replica still starting up.
                try await connection.query(
                    """
                    DELETE FROM tokengate_credentials WHERE coalesce(expires_at, obtained_at, lease_until) < now() - interval '1 day'
                    AND (lease_until IS NULL OR lease_until < now())
                    """, logger: logger)
            }
            state.withLockedValue { $0.lastExpiry = now }
        }
    }

    /// Reads the rows after the last one seen, and the recent ones again (an id can commit
    /// after a higher one was read), and hands them to the receiver.
    private func poll() async throws {
        var after = state.withLockedValue { $0.lastSeenID }
        var found: [FleetRevocation] = []
        while true {
            let from = after
            let batch = try await call("poll") { client, logger in
                try await Self.rows(client, logger: logger, query: """
                    SELECT id, kind, key, profile, at_ms, extract(epoch FROM until)::bigint FROM tokengate_revocations
                    WHERE id > \(from) AND until > now() ORDER BY id LIMIT 5000
                    """)
            }
            found += batch.map(\.revocation)
            if let last = batch.last?.id { after = last }
            if batch.count < 5000 { break }
        }
        var seen = after
        // Rows are read again for twice the poll interval (at least 30 s): an id can commit
        // after a higher one was read.
        let window = max(30, 2 * Double(config.revocationPoll.components.seconds))
        let upTo = seen
        let recent = try await call("poll") { client, logger in
            try await Self.rows(client, logger: logger, query: """
                SELECT id, kind, key, profile, at_ms, extract(epoch FROM until)::bigint FROM tokengate_revocations
                WHERE made_at > now() - make_interval(secs => \(window)) AND id <= \(upTo) AND until > now() ORDER BY id DESC LIMIT 5000
                """)
        }
        if found.isEmpty, seen > 0 {
            // A store emptied or restored from an older backup numbers rows anew: start over.
            // (The sequence, not max(id): expired rows are deleted, ids never go back.)
            let highest = try await call("poll") { client, logger in
                var highest: Int64 = 0
                let rows = try await client.query(
                    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tokengate_revocations_id_seq", logger: logger
                )
                for try await value in rows.decode(Int64.self) { highest = value }
                return highest
            }
            if highest < seen { seen = 0 }
        }
        found += recent.map(\.revocation)
        state.withLockedValue {
            $0.lastSeenID = seen == 0 ? 0 : max($0.lastSeenID, seen)
            $0.lastSync = WallClock.secondsSinceEpoch()
        }
        let wellFormed = found.filter(\.isWellFormed)
        if wellFormed.count < found.count { metrics.operation("poll", outcome: "malformed_row") }
        if !wellFormed.isEmpty, let receive = receiver.withLockedValue({ $0 }) { receive(wellFormed) }
    }

    private static func rows(_ client: PostgresClient, logger: Logger, query: PostgresQuery) async throws -> [(id: Int64, revocation: FleetRevocation)] {
        var rows: [(id: Int64, revocation: FleetRevocation)] = []
        let sequence = try await client.query(query, logger: logger)
        for try await (id, kind, key, profile, at, until) in sequence.decode((Int64, String, String, String?, Int64, Int64).self) {
            guard let kind = FleetRevocation.Kind(rawValue: kind) else { continue }
            rows.append((id, FleetRevocation(kind: kind, key: key, profile: profile, at: Int(clamping: at), until: Int(clamping: until))))
        }
        return rows
    }

    /// Holds a connection that `LISTEN`s while the store is up; each notification (and
    /// each new listen, which may have missed some) starts a poll.
    private func listenLoop() async {
        var backoff = StoreBackoff()
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        backoff.reset()
                        self.pollSignal.signal()
                        // The pool does not check a connection it lent: a ping every 10 s
                        // (within the call deadline) finds a half-open one, and the
                        // listen starts again on another.
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for try await _ in notifications { self.pollSignal.signal() }
                                throw StoreProblem.failed("the notification stream ended")
                            }
                            group.addTask {
                                while true {
                                    try await Task.sleep(for: .seconds(10))
                                    let logger = self.quietLogger
                                    do {
                                        try await StoreDeadline.run(within: self.callDeadline) { _ = try await connection.query("SELECT 1", logger: logger) }
                                    } catch {
                                        // Not back to the pool: the next call would get it.
                                        try? await connection.close()
                                        throw error
                                    }
                                }
                            }
                            defer { group.cancelAll() }
                            try await group.next()
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
            }
            try? await Task.sleep(for: backoff.next())
        }
    }

    /// Sends what `record` queued, a batch at a time, then notifies the fleet; keeps what
    /// failed for the next try. Never on a read-only server.
    private func writeLoop() async {
        var backoff = StoreBackoff()
        while !Task.isCancelled {
            let (batch, claims) = state.withLockedValue { state -> ([(number: Int, revocation: FleetRevocation)], Bool) in
                guard state.up, !state.readOnly, state.schemaVersion != nil else { return ([], false) }
                return (Array(state.pending.prefix(100)), !state.pendingClaims.isEmpty)
            }
            // Claims first, but a failing claim never holds revocations back.
            let claimsFailed = claims ? !(await writeClaims()) : false
            guard !batch.isEmpty else {
                if claimsFailed {
                    await writeSignal.wait(until: .now + backoff.next())
                } else if !claims {
                    await writeSignal.wait(until: .now + .seconds(60))
                } else {
                    backoff.reset()
                }
                continue
            }
            do {
                try await writeCall("write") { connection, logger in
                    // One transaction: a batch cut off half-way is written again
                    // whole, never twice in part; the notification goes out at commit.
                    // One statement for the batch (a round trip per row could outlast the
                    // deadline on a distant server).
                    let rows = batch.map(\.revocation)
                    let kinds = rows.map(\.kind.rawValue)
                    let keys = rows.map(\.key)
                    let profiles = rows.map { $0.profile ?? "" }
                    let ats = rows.map { Int64($0.at) }
                    let untils = rows.map { Double($0.until) }
                    try await connection.query("BEGIN", logger: logger)
                    do {
                        try await connection.query("""
                            INSERT INTO tokengate_revocations (kind, key, profile, at_ms, until)
                            SELECT kind, key, NULLIF(profile, ''), at_ms, to_timestamp(until)
                            FROM unnest(\(kinds)::text[], \(keys)::text[], \(profiles)::text[], \(ats)::int8[], \(untils)::float8[]) AS t(kind, key, profile, at_ms, until)
                            """, logger: logger)
                        try await connection.query("SELECT pg_notify(\(Self.channel), '')", logger: logger)
                        try await connection.query("COMMIT", logger: logger)
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                }
                let last = batch[batch.count - 1].number
                state.withLockedValue { state in
                    while let first = state.pending.first, first.number <= last { _ = state.pending.popFirst() }
                }
                metrics.written(batch.count)
                writtenSignal.signal()
                backoff.reset()
            } catch {
                if Task.isCancelled { return }
                // The reads decide whether the store is up; a write that fails (read-only,
                // a role without INSERT, a dropped table) keeps the batch and says why,
                // without flapping `up`.
                let problem = StoreProblem(error)
                let changed = state.withLockedValue { state -> Bool in
                    if problem == .readOnly { state.readOnly = true }
                    if problem == .missingTables { state.schemaVersion = nil }
                    defer { state.problem = problem }
                    return state.problem != problem
                }
                if changed { logger.warning("store writes failing; revocations kept for the next try", metadata: ["reason": "\(problem)"]) }
                await writeSignal.wait(until: .now + backoff.next())
            }
        }
    }

    // MARK: Helpers

    static func isReadOnly(_ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("SELECT current_setting('transaction_read_only')", logger: logger)
        var value = ""
        for try await setting in rows.decode(String.self) { value = setting }
        return value == "on"
    }

    /// One call to the store, within `callDeadline`, timed and counted.
    func call<Result: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (PostgresClient, Logger) async throws -> Result
    ) async throws -> Result {
        let started = ContinuousClock.now
        let client = client
        let callLogger = quietLogger
        do {
            let result = try await StoreDeadline.run(within: callDeadline) { try await body(client, callLogger) }
            metrics.operation(operation, outcome: "ok", took: ContinuousClock.now - started)
            return result
        } catch {
            metrics.operation(operation, outcome: "error", took: ContinuousClock.now - started)
            throw error
        }
    }

    /// A call that writes, on one connection whose `transaction_read_only` is read first:
    /// a write never reaches a read-only server (a standby, a primary failed over to
    /// replica, a reconnect to either), whatever the last sync saw. A read-only server
    /// marks the store read-only until a sync finds it writable, and throws `.readOnly`.
    func writeCall<Result: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        do {
            return try await call(operation) { client, logger in
                try await client.withConnection { connection in
                    guard try await !Self.isReadOnly(connection, logger: logger) else { throw StoreProblem.readOnly }
                    return try await body(connection, logger)
                }
            }
        } catch StoreProblem.readOnly {
            let changed = state.withLockedValue { state -> Bool in
                defer {
                    state.readOnly = true
                    state.problem = .readOnly
                }
                return !state.readOnly
            }
            if changed { logger.warning("store is read-only; writes wait for a writable server", metadata: ["operation": "\(operation)"]) }
            throw StoreProblem.readOnly
        }
    }

    /// The gateway's logger, silenced for postgres-nio (which would log statements).
    var quietLogger: Logger {
        var quiet = logger
        quiet.logLevel = .critical
        return quiet
    }

    private func finishFirst(_ problem: StoreProblem?) {
        let first = state.withLockedValue { state -> Bool in
            guard state.first == nil else { return false }
            state.first = .some(problem)
            return true
        }
        if first { firstSignal.signal() }
    }

    private func markUp(readOnly: Bool) {
        let changed = state.withLockedValue { state -> Bool in
            defer {
                state.up = true
                state.readOnly = readOnly
                state.problem = readOnly ? .readOnly : nil
            }
            return !state.up
        }
        metrics.up(true)
        if changed { logger.info("store available", metadata: ["read_only": "\(readOnly)"]) }
    }

    private func markDown(_ problem: StoreProblem) {
        let changed = state.withLockedValue { state -> Bool in
            defer {
                state.up = false
                state.problem = problem
                switch problem {
                case .newerSchema, .missingTables: state.schemaVersion = nil
                default: break
                }
            }
            return state.up || state.problem != problem
        }
        metrics.up(false)
        if changed { logger.warning("store unavailable", metadata: ["reason": "\(problem)"]) }
    }
}

/// A store that cannot be set up from its configuration (its URL secret).
struct StoreSetupError: Error {
    let issue: ConfigIssue
}

/// Waits between tries at an unavailable store: 0.5 s doubling to 15 s.
struct StoreBackoff {
    private var next_: Duration = .milliseconds(500)

    mutating func next() -> Duration {
        defer { next_ = min(next_ * 2, .seconds(15)) }
        return next_
    }

    mutating func reset() { next_ = .milliseconds(500) }
}
