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

struct JWKS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jwks",
        abstract: "Fetch a JWT profile's key set (with discovery) and list its keys; with --check-token, judge a token read from standard input."
    )

    @Argument(help: "The JWT profile's name.")
    var profile: String

    @OptionGroup var configOptions: ConfigOptions

    @Flag(name: .long, help: "Read one token from standard input and say whether the profile accepts it (the token is never printed).")
    var checkToken = false

    func run() async throws {
        let loaded = try configOptions.load()
        var token: String?
        if checkToken {
            token = readLine(strippingNewline: true).map { String($0.drop { $0 == " " }) }
            if token?.isEmpty ?? true {
                printToStandardError("error: --check-token reads a token from standard input; none was given")
                throw ExitCode(1)
            }
        }
        do {
            let report = try await JWKSProbe.probe(profileNamed: profile, from: loaded.config, resolver: .processEnvironment(), token: token)
            print("profile:   \(profile)")
            print("jwks_uri:  \(report.jwksURL)")
            print("max-age:   \(report.maxAgeSeconds.map { "\($0) s" } ?? "(none sent)")")
            print("keys:")
            for key in report.keys { print("  \(key)") }
            for skipped in report.skipped { print("skipped:   \(skipped)") }
            if let verdict = report.verdict {
                print("token:     \(verdict)")
                if verdict.hasPrefix("refused") || verdict.hasPrefix("not checked") { throw ExitCode(1) }
            }
        } catch let error as JWKSProbeError {
            printToStandardError("error: \(error.description)")
            throw ExitCode(1)
        }
    }
}
