import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
func eventually(within timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout.scaledForRun
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// A loopback port nothing listens on right now, for child processes whose configuration
/// must name a port up front. It is taken from below the kernel's ephemeral range, so the
/// port-0 binds of tests running in parallel can never be handed the same port between
/// this check and the child's bind.
func freeLoopbackPort() async throws -> Int {
    let ephemeralStart = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
        .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } } ?? 32768
    let upper = max(11_000, min(ephemeralStart, 32768))
    for _ in 0..<200 {
        let candidate = Int.random(in: 10_000..<upper)
        // Never the same port twice in one run: a port handed out is free only until its
        // taker binds it, and two tests must not both think it theirs.
        guard handedOutPorts.withLockedValue({ $0.insert(candidate).inserted }) else { continue }
        if let channel = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: candidate).get() {
            try await channel.close()
            return candidate
        }
    }
    throw NoFreePort()
}

struct NoFreePort: Error {}

/// Ports `freeLoopbackPort` has handed out in this test run.
private let handedOutPorts = NIOLockedValueBox<Set<Int>>([])
