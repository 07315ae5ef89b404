import ArgumentParser
import AsyncHTTPClient
import NIOCore
import NIOPosix
import TokenGate

/// `tokengate status`: a running gateway's `/status`, as tables a person can scan.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running gateway's state: configuration, routes, each profile's token and each introspection cache."
    )

    @OptionGroup var adminOptions: AdminOptions

    @Flag(name: .long, help: "Print the raw /status JSON instead of tables.")
    var json = false

    func run() async throws {
        let (url, fetched) = await fetchAdmin(adminOptions.admin, path: "/status")
        let text: String
        switch fetched {
        case .failure(let error):
            printToStandardError("error: cannot read \(url): \(error) (is the gateway running, and is --admin its admin address?)")
            throw ExitCode(1)
        case .success(let answer) where answer.status != 200:
            printToStandardError("error: \(url) answered \(answer.status)")
            throw ExitCode(1)
        case .success(let answer):
            text = answer.body
        }
        if json {
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            return
        }
        let status: GatewayStatusDocument
        do {
            status = try GatewayStatusDocument.decode(Array(text.utf8))
        } catch {
            printToStandardError("error: \(url) did not answer with a TokenGate status document (\(error))")
            throw ExitCode(1)
        }
        print(StatusReport(status).text, terminator: "")
    }
}
