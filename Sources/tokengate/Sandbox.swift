import ArgumentParser
import TokenGateSandbox
import UnixSignals

/// `tokengate sandbox`: the development authorization server and echo upstream on their
/// own, for trying configurations by hand and for the benchmarks. Never part of `run`.
struct Sandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the development authorization server and echo upstream (not for production)."
    )

    @Option(name: .long, help: "Port of the sandbox authorization server.")
    var idpPort = 9000

    @Option(name: .long, help: "Port of the echo upstream.")
    var echoPort = 3000

    @Option(name: .long, help: "Lifetime of issued access tokens, in seconds.")
    var tokenLifetime = 3600

    @Option(name: .long, help: "Address to listen on (0.0.0.0 in a container that others reach).")
    var host = "127.0.0.1"

    func run() async throws {
        var configuration = SandboxAuthorizationServer.Configuration.demo
        configuration.accessTokenLifetime = .seconds(tokenLifetime)
        let idp = try await SandboxAuthorizationServer.start(configuration, host: host, port: idpPort)
        let echo = try await EchoUpstream.start(host: host, port: echoPort)
        print("sandbox authorization server: http://\(host):\(idp.port)/oauth2/token (introspection /oauth2/introspect)")
        print("JWT issuer (RFC 9068 tokens): \(idp.issuer) (keys \(idp.jwksURL), discovery /.well-known/openid-configuration)")
        print("echo upstream:                http://\(host):\(echo.port)/")
        print("clients: billing-svc / demo-billing-secret, legacy-crm / demo-crm-secret, tokengate-rs / demo-introspection-secret, demo-caller / demo-caller-secret, demo-jwt-caller / demo-jwt-caller-secret (JWT access tokens)")
        print("Ctrl-C stops it.")
        await waitForTermination()
        await echo.stop()
        await idp.stop()
    }
}

/// Returns on SIGINT or SIGTERM.
func waitForTermination() async {
    for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { return }
}
