import ArgumentParser
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import TokenGate

@main
struct TokenGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokengate",
        abstract: "A reverse-proxy token gateway: OAuth 2 for services that know nothing about it.",
        version: TokenGateVersion.current,
        subcommands: [Demo.self, Run.self, Check.self, Status.self, Revoke.self, Health.self, Token.self, JWKS.self, Schema.self, Sandbox.self, Version.self]
    )
}
