import ArgumentParser
import AsyncHTTPClient
import FoundationEssentials
import NIOCore
import NIOPosix
import TokenGate

/// `tokengate revoke`: ends sessions or a bearer token through a running gateway's
/// `POST /revoke` (from the gateway's own host). With a store, every replica of the fleet
/// hears of it; without one, only that gateway. A token is read from standard input, so
/// it never appears in a process list or a shell history.
struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke a login session, a provider session (sid), a subject's sessions (sub) or a bearer token, on every replica sharing the store.",
        discussion: "Name exactly one of --session, --sid, --sub or --token-stdin. Example: tokengate revoke --sub alice --profile portal"
    )

    @OptionGroup var adminOptions: AdminOptions

    @Option(name: .long, help: "A login session id.")
    var session: String?

    @Option(name: .long, help: "An OpenID Connect provider session id: every session of it ends.")
    var sid: String?

    @Option(name: .long, help: "A subject: every session of this user ends.")
    var sub: String?

    @Flag(name: .long, help: "Read a bearer token from standard input (one line) and revoke it.")
    var tokenStdin = false

    @Option(name: .long, help: "The login profile whose sessions end (default: every profile).")
    var profile: String?

    @Option(name: .long, help: "For a token: seconds until it expires anyway (default: its JWT exp, else a day).")
    var expiresIn: Int?

    struct Body: Encodable {
        var session: String?
        var sid: String?
        var sub: String?
        var token: String?
        var profile: String?
        var expiresIn: Int?

        enum CodingKeys: String, CodingKey {
            case session, sid, sub, token, profile
            case expiresIn = "expires_in"
        }
    }

    func run() async throws {
        var body = Body(session: session, sid: sid, sub: sub, profile: profile, expiresIn: expiresIn)
        if tokenStdin {
            guard let line = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces), !line.isEmpty else {
                printToStandardError("error: --token-stdin read no token from standard input")
                throw ExitCode(2)
            }
            body.token = line
            // The admin listener takes revocations from its own host only: a token sent
            // anywhere else would travel (in clear text over http) only to be refused.
            let host = adminOptions.admin.split(separator: "/").dropFirst(1).first.map { String($0) } ?? ""
            let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }.dropFirst()) : String(host.split(separator: ":").first ?? "")
            guard ["127.0.0.1", "localhost", "::1"].contains(name) else {
                printToStandardError("error: --token-stdin sends the token only to this host's admin listener (127.0.0.1, localhost or [::1]); run tokengate revoke on the gateway's host")
                throw ExitCode(2)
            }
        }
        guard [body.session, body.sid, body.sub, body.token].compactMap({ $0 }).count == 1 else {
            printToStandardError("error: name exactly one of --session, --sid, --sub or --token-stdin")
            throw ExitCode(2)
        }
        let bytes = try JSONEncoder().encode(body)
        let (url, answered) = await postAdmin(adminOptions.admin, path: "/revoke", body: Array(bytes))
        switch answered {
        case .failure(let error):
            printToStandardError("error: cannot reach \(url): \(error) (is the gateway running, and is --admin its admin address?)")
            throw ExitCode(1)
        case .success(let answer) where answer.status != 200:
            printToStandardError("error: \(url) answered \(answer.status): \(answer.body)")
            throw ExitCode(1)
        case .success(let answer):
            print(answer.body, terminator: answer.body.hasSuffix("\n") ? "" : "\n")
        }
    }
}
