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

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the JSON Schema of gateway.json (for editors and CI).")

    func run() {
        print(GatewaySchema.text, terminator: "")
    }
}
