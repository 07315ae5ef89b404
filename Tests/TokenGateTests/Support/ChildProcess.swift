import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers

/// A child process started with `posix_spawn`, for the tests that run `tokengate`, Python
/// or Django.
///
/// Not Foundation's `Process`: on Linux with Swift 6.3 its `run()` intermittently crashes
/// the whole test process (an over-read of `struct dirent` while listing `/proc/self/fd`,
/// swift-corelibs-foundation#5472), and its children inherit a signal mask that blocks
/// SIGTERM. Children here start with every signal unblocked and default handlers, and with
/// no descriptor of the test process but the three standard ones.
final class ChildProcess: Sendable {
    enum Output {
        /// Captured through a pipe, read with `readOutput` or `lines`.
        case pipe
        /// Appended to a file.
        case file(String)
        case discard
    }

    struct SpawnFailed: Error, CustomStringConvertible {
        var description: String
    }

    let pid: pid_t
    /// The read end of the captured standard output (and standard error, when merged).
    let output: Int32?
    let errorOutput: Int32?
    let input: Int32?
    private let exit = NIOLockedValueBox<Int32?>(nil)

    /// Starts `executable`. Standard error goes where standard output goes unless
    /// `separateErrors`; `stdin` true gives a pipe to write (`input`), else /dev/null.
    init(
        _ executable: String, _ arguments: [String], environment: [String: String], directory: String? = nil,
        stdout: Output = .pipe, separateErrors: Bool = false, stdin: Bool = false
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard GNU.pipe2(&fds, O_CLOEXEC) == 0 else { throw SpawnFailed(description: "pipe: errno \(errno)") }
            return (fds[0], fds[1])
        }
        var inputEnd: Int32?
        if stdin {
            let pipe = try makePipe()
            posix_spawn_file_actions_adddup2(&actions, pipe.read, 0)
            inputEnd = pipe.write
            parentEnds.append(pipe.write)
            childEnds.append(pipe.read)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        var outputEnd: Int32?
        var errorEnd: Int32?
        switch stdout {
        case .pipe:
            let pipe = try makePipe()
            posix_spawn_file_actions_adddup2(&actions, pipe.write, 1)
            outputEnd = pipe.read
            childEnds.append(pipe.write)
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        case .discard:
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        if separateErrors {
            let pipe = try makePipe()
            posix_spawn_file_actions_adddup2(&actions, pipe.write, 2)
            errorEnd = pipe.read
            childEnds.append(pipe.write)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        _ = GNU.addCloseFrom(&actions, 3)
        if let directory { _ = GNU.addChdir(&actions, directory) }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        for fd in childEnds { close(fd) }
        guard result == 0 else {
            for fd in [outputEnd, errorEnd, inputEnd].compactMap({ $0 }) { close(fd) }
            throw SpawnFailed(description: "posix_spawn \(executable): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        self.output = outputEnd
        self.errorOutput = errorEnd
        self.input = inputEnd
    }

    /// The exit status (or 128 + signal), or nil while the child runs.
    var exitStatus: Int32? {
        exit.withLockedValue { known in
            if let known { return known }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            known = Self.decode(status)
            return known
        }
    }

    var isRunning: Bool { exitStatus == nil }

    /// Blocks until the child exits.
    @discardableResult
    func wait() -> Int32 {
        if let known = exitStatus { return known }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let decoded = Self.decode(status)
        exit.withLockedValue { $0 = $0 ?? decoded }
        return exitStatus ?? decoded
    }

    /// Waits for the child to exit, on a thread of its own (never blocking the cooperative
    /// pool), for at most `timeout`; nil when it is still running then.
    func exited(within timeout: Duration) async -> Int32? {
        if let known = exitStatus { return known }
        let waited: Int32? = try? await withTimeout(timeout) {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: self.wait()) }
            }
        }
        return waited ?? exitStatus
    }

    func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }

    /// Writes `bytes` to the child's standard input and closes it.
    func write(_ bytes: [UInt8]) {
        guard let input else { return }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(input, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            offset += written
        }
        close(input)
    }

    /// Reads a captured stream to its end (and closes it).
    static func readAll(_ fd: Int32?) -> [UInt8] {
        var data: [UInt8] = []
        read(fd) { data.append(contentsOf: $0) }
        return data
    }

    /// Hands each piece of a captured stream to `received` as it arrives, until the end
    /// (then closes it). Blocks: call it on a thread of its own.
    static func read(_ fd: Int32?, _ received: (ArraySlice<UInt8>) -> Void) {
        guard let fd else { return }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            received(chunk[0..<count])
        }
        close(fd)
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// Runs a program to completion and returns its exit status and captured output. The
/// waiting happens on a thread of its own: the test process has as many cooperative
/// threads as cores (two here), and one blocked for seconds stalls unrelated tests.
/// A child still running after `timeout` is killed by its PID and `ChildDidNotFinish` is
/// thrown, naming it: one hung subcommand fails its test instead of hanging the suite.
func runChild(
    _ executable: String, _ arguments: [String], environment: [String: String], directory: String? = nil, input: [UInt8]? = nil,
    timeout: Duration = .seconds(300)
) async throws -> (status: Int32, stdout: [UInt8], stderr: [UInt8]) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result {
                try runChildBlocking(executable, arguments, environment: environment, directory: directory, input: input, timeout: timeout)
            })
        }
    }
}

/// A child that `runChild` killed at its deadline.
struct ChildDidNotFinish: Error, CustomStringConvertible {
    var description: String
}

private func runChildBlocking(
    _ executable: String, _ arguments: [String], environment: [String: String], directory: String?, input: [UInt8]?, timeout: Duration
) throws -> (status: Int32, stdout: [UInt8], stderr: [UInt8]) {
    let timeout = timeout.scaledForRun
    let deadline = DispatchTime.now() + .milliseconds(Int(timeout.components.seconds) * 1000 + Int(timeout.components.attoseconds / 1_000_000_000_000_000))
    let child = try ChildProcess(executable, arguments, environment: environment, directory: directory, separateErrors: true, stdin: input != nil)
    // Both streams are drained at once, so a child filling one pipe never blocks; the exit
    // is awaited beside them, so one deadline covers all three.
    let output = NIOLockedValueBox<[UInt8]>([])
    let errors = NIOLockedValueBox<[UInt8]>([])
    let status = NIOLockedValueBox<Int32?>(nil)
    // Signalled once by each of the three waits below.
    let finished = DispatchSemaphore(value: 0)
    for (fd, box) in [(child.output, output), (child.errorOutput, errors)] {
        Thread.detachNewThread {
            ChildProcess.read(fd) { piece in box.withLockedValue { $0.append(contentsOf: piece) } }
            finished.signal()
        }
    }
    if let input { child.write(input) }
    Thread.detachNewThread {
        let code = child.wait()
        status.withLockedValue { $0 = code }
        finished.signal()
    }
    let allFinished = (0..<3).allSatisfy { _ in finished.wait(timeout: deadline) == .success }
    guard allFinished, let code = status.withLockedValue({ $0 }) else {
        let stillRunning = child.isRunning
        child.signal(SIGKILL)
        let name = URL(fileURLWithPath: executable).lastPathComponent + (arguments.first.map { " " + $0 } ?? "")
        let said = String(decoding: errors.withLockedValue { $0 }.suffix(2000), as: UTF8.self)
        throw ChildDidNotFinish(description: stillRunning
            ? "\(name) (pid \(child.pid)) did not finish within \(timeout); killed it. Its standard error so far:\n\(said)"
            : "\(name) (pid \(child.pid)) exited, but its output was still open after \(timeout) (a process it started holds it). Its standard error:\n\(said)")
    }
    return (code, output.withLockedValue { $0 }, errors.withLockedValue { $0 })
}

/// glibc extensions Swift's Glibc module does not export (they need `_GNU_SOURCE`), looked
/// up by name with their C signatures.
private enum GNU {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    private static func symbol<T>(_ name: String, as type: T.Type) -> T {
        guard let address = dlsym(dlopen(nil, RTLD_NOW), name) else { preconditionFailure("glibc has no \(name)") }
        return unsafeBitCast(address, to: type)
    }

    static let pipe2 = symbol("pipe2", as: Pipe2.self)
    /// glibc 2.34 and later.
    static let addCloseFrom = symbol("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)
    /// glibc 2.29 and later.
    static let addChdir = symbol("posix_spawn_file_actions_addchdir_np", as: AddChdir.self)
}
