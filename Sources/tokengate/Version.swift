#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import FoundationEssentials
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import TokenGate

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")

    func run() {
        print("tokengate \(TokenGateVersion.current)")
    }
}
