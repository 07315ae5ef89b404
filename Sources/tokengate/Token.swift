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

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Obtain a token with a credential profile and describe it (the token itself only with --show-token)."
    )

    @Argument(help: "The credential profile's name.")
    var profile: String

    @OptionGroup var configOptions: ConfigOptions

    @Flag(name: .long, help: "Print the access token too (for piping into curl while debugging).")
    var showToken = false

    func run() async throws {
        let loaded = try configOptions.load()
        do {
            let obtained = try await TokenProbe.obtain(profileNamed: profile, from: loaded.config, resolver: .processEnvironment())
            print("profile:    \(profile)")
            print("token_type: \(obtained.tokenType)")
            print("scope:      \(obtained.scope ?? "(not returned)")")
            print("expires_in: \(obtained.expiresIn.map { "\($0.components.seconds) s" } ?? "(not returned)")")
            if showToken { print(obtained.token.revealed) }
        } catch {
            printToStandardError("error: \(error.description)")
            throw ExitCode(1)
        }
    }
}
