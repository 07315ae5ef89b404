import Foundation
import Testing
import NIOConcurrencyHelpers

/// The `tokengate` executable built next to this test bundle.
enum TokenGateBinary {
    static var path: String {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tokengate").path
        if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug/tokengate").path
    }
}

/// Output and exit status of a finished command.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `tokengate` with arguments to completion, within `timeout` (a subcommand that
/// hangs, such as `run` given a valid file, is killed and its test fails naming it).
func runTokenGate(_ arguments: [String], environment: [String: String] = [:], input: String? = nil, timeout: Duration = .seconds(60)) async throws -> CommandResult {
    let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let result = try await runChild(TokenGateBinary.path, arguments, environment: merged, input: input.map { Array($0.utf8) }, timeout: timeout)
    return CommandResult(status: result.status, stdout: String(decoding: result.stdout, as: UTF8.self), stderr: String(decoding: result.stderr, as: UTF8.self))
}

/// A temporary directory removed when the test is done with it.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tokengate-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// `tokengate run` as a child process, with its log lines collected as they come.
final class GatewayProcess: Sendable {
    private let process: ChildProcess
    private let lines = NIOLockedValueBox<[String]>([])

    /// Starts `tokengate run` with JSON logs at debug level; standard output (the access
    /// log) and standard error (the logs) are collected together, line by line.
    init(config: String, environment: [String: String] = [:], extraArguments: [String] = []) throws {
        let process = try ChildProcess(
            TokenGateBinary.path, ["run", "--config", config, "--log-format", "json", "--log-level", "debug"] + extraArguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        )
        self.process = process
        let fd = process.output
        let lines = self.lines
        Thread.detachNewThread {
            var pending: [UInt8] = []
            ChildProcess.read(fd) { piece in
                pending.append(contentsOf: piece)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    lines.withLockedValue { $0.append(line) }
                }
            }
        }
    }

    var logLines: [String] { lines.withLockedValue { $0 } }

    /// Waits for the "listening" log line of `listener` and returns its port.
    func port(ofListener listener: String, timeout: Duration = .seconds(15)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout.scaledForRun
        while ContinuousClock.now < deadline {
            for line in logLines where line.contains(#""msg":"listening""#) && line.contains(#""tg.listener":"\#(listener)""#) {
                if let range = line.range(of: #"(?<=:)\d+(?="[,}])"#, options: .regularExpression, range: line.range(of: #""address""#).map { $0.upperBound..<line.endIndex }) {
                    return Int(line[range]) ?? 0
                }
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw GatewayDidNotStart(log: logLines.joined(separator: "\n"))
    }

    func signal(_ number: Int32) { process.signal(number) }

    /// Waits for the process to exit and returns its status, or nil on timeout.
    func exitStatus(within timeout: Duration) async -> Int32? {
        await process.exited(within: timeout)
    }

    /// SIGTERM, then SIGKILL if it is still running after 5 s; then checks that nothing
    /// the process wrote (logs and access log) holds a known secret or token.
    func stop(sourceLocation: SourceLocation = #_sourceLocation) async {
        if process.isRunning {
            process.signal(SIGTERM)
            if await process.exited(within: .seconds(5)) == nil {
                process.signal(SIGKILL)
                _ = await process.exited(within: .seconds(5))
            }
        }
        LeakWatch.expectNoLeaks(in: logLines.joined(separator: "\n"), "tokengate run's output", sourceLocation: sourceLocation)
    }

    /// Kills the process without waiting: for a test's error path (`defer`), where `stop`
    /// cannot be awaited.
    func kill() {
        process.signal(SIGKILL)
    }
}

struct GatewayDidNotStart: Error, CustomStringConvertible {
    var log: String
    var description: String { "the gateway did not start:\n\(log)" }
}
