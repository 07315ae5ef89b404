import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A real PostgreSQL server for the fleet tests, made by the test itself: `initdb` in a
/// temporary directory and `pg_ctl` on a loopback port the test chooses (never the
/// system's service). Run as the `postgres` user when the tests run as root (PostgreSQL
/// refuses root). Stopped by `stop()`, which also removes the directory.
final class PostgresServer: Sendable {
    static let user = "tokengate"
    let password: String
    let port: Int
    let directory: String
    private let bin: String

    var data: String { directory + "/data" }
    /// The URL a gateway's `store.postgres.url` names.
    var url: String { "postgres://\(Self.user):\(password)@127.0.0.1:\(port)/postgres" }

    /// Where Debian puts the server programs (the highest version), else the `PATH`.
    static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        if let newest = versions.last, FileManager.default.isExecutableFile(atPath: "\(root)/\(newest)/bin/initdb") { return "\(root)/\(newest)/bin" }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/initdb") {
            return String(directory)
        }
        return nil
    }

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    private init(bin: String, directory: String, port: Int, password: String) {
        self.bin = bin
        self.directory = directory
        self.port = port
        self.password = password
    }

    static func start() async throws -> PostgresServer {
        guard let bin = binaries() else { throw Unavailable(description: "no initdb: install Debian's postgresql (scripts/test.sh does)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tg-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let password = "pg-" + UUID().uuidString
        try password.write(toFile: directory + "/pwfile", atomically: true, encoding: .utf8)
        if geteuid() == 0, let account = getpwnam("postgres") {
            _ = chown(directory, account.pointee.pw_uid, account.pointee.pw_gid)
            _ = chown(directory + "/pwfile", account.pointee.pw_uid, account.pointee.pw_gid)
        }
        let server = PostgresServer(bin: bin, directory: directory, port: try await freeLoopbackPort(), password: password)
        try await server.run("initdb", ["-D", server.data, "-U", user, "--auth=scram-sha-256", "--pwfile=\(directory)/pwfile", "-E", "UTF8", "--no-sync"])
        try await server.startServer(readOnly: false)
        return server
    }

    /// Runs one of the server's programs (as `postgres` when this is root).
    @discardableResult
    func run(_ program: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        var command = bin + "/" + program
        var arguments = arguments
        if geteuid() == 0 {
            arguments = ["-u", "postgres", "--", command] + arguments
            command = "/usr/sbin/runuser"
        }
        var env = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"]
        for (key, value) in environment { env[key] = value }
        let result = try await runChild(command, arguments, environment: env, directory: directory, timeout: .seconds(60))
        let output = String(decoding: result.stdout, as: UTF8.self)
        guard result.status == 0 else {
            throw Unavailable(description: "\(program) failed (\(result.status)): \(String(decoding: result.stderr, as: UTF8.self).suffix(1500)) \(output.suffix(500))")
        }
        return output
    }

    /// Starts the server; `readOnly` makes every transaction read-only (what a standby
    /// answers: `transaction_read_only` is on).
    func startServer(readOnly: Bool) async throws {
        let options = "-p \(port) -c listen_addresses=127.0.0.1 -k \(directory) -c fsync=off" + (readOnly ? " -c default_transaction_read_only=on" : "")
        try await run("pg_ctl", ["-D", data, "-l", directory + "/server.log", "-w", "-t", "60", "-o", options, "start"])
    }

    func stopServer() async throws {
        try await run("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "60", "stop"])
    }

    /// A statement's output through `psql` (unaligned, tuples only).
    func psql(_ sql: String) async throws -> String {
        try await run("psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", Self.user, "-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                      environment: ["PGPASSWORD": password])
    }

    /// `pg_dump` of the whole database, data included.
    func dump() async throws -> String {
        try await run("pg_dump", ["-h", "127.0.0.1", "-p", "\(port)", "-U", Self.user, "-d", "postgres"], environment: ["PGPASSWORD": password])
    }

    func stop() async {
        try? await stopServer()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
