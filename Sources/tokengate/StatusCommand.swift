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

/// `tokengate health`: exit 0 when the gateway answers its liveness (or readiness) probe,
/// 1 otherwise. For container HEALTHCHECKs and exec probes, where there is no curl.
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 if a running gateway is healthy (with --ready: ready to serve), 1 if not."
    )

    @OptionGroup var adminOptions: AdminOptions

    @Flag(name: .long, help: "Ask /readyz (configuration loaded, listeners bound) instead of /healthz.")
    var ready = false

    func run() async throws {
        let (url, fetched) = await fetchAdmin(adminOptions.admin, path: ready ? "/readyz" : "/healthz")
        switch fetched {
        case .success(let answer) where answer.status == 200:
            return
        case .success(let answer):
            printToStandardError("unhealthy: \(url) answered \(answer.status)")
        case .failure(let error):
            printToStandardError("unhealthy: cannot reach \(url): \(error)")
        }
        throw ExitCode(1)
    }
}

/// Where a running gateway's admin listener is.
struct AdminOptions: ParsableArguments {
    @Option(name: .long, help: "The admin listener's base URL.")
    var admin = "http://127.0.0.1:9901"
}

/// GET `path` on the admin listener at `base`: the URL asked and the status and body.
func fetchAdmin(_ base: String, path: String) async -> (url: String, Result<(status: Int, body: String), any Error>) {
    let url = (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
    let http = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton))
    let fetched: Result<(status: Int, body: String), any Error>
    do {
        // A refused connection is retried until this deadline (AsyncHTTPClient), so keep it short.
        let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(3))
        let body = try await response.body.collect(upTo: 4 << 20)
        fetched = .success((Int(response.status.code), String(buffer: body)))
    } catch {
        fetched = .failure(error)
    }
    try? await http.shutdown()
    return (url, fetched)
}

/// Renders `/status` as a header and aligned tables.
struct StatusReport {
    let status: GatewayStatusDocument

    init(_ status: GatewayStatusDocument) { self.status = status }

    var text: String {
        var out = "TokenGate \(status.version)   config \(status.configVersion) (\(status.configFile ?? "-"))"
        out += "   started \(status.startedAt)   open connections \(status.openConnections)\n"
        if let last = status.lastReload {
            out += "last reload: \(last.result) (\(last.trigger))\n" + last.errors.map { "  error: \($0)\n" }.joined()
        } else {
            out += "last reload: none\n"
        }
        out += "\n" + table(["LISTENER", "ADDRESS"], status.listeners.map { [$0.name, $0.address] })
        out += "\n" + table(["ROUTE", "LISTENER", "PREFIX", "HOST", "UPSTREAM", "CREDENTIAL", "INTROSPECTION", "JWT"], status.routes.map {
            [$0.name, $0.listener, $0.pathPrefix, $0.host ?? "-", $0.upstream, $0.credential ?? "-", $0.introspection ?? "-", $0.jwt ?? "-"]
        })
        if !status.credentials.isEmpty {
            out += "\n" + table(
                ["CREDENTIAL", "GRANT", "TOKEN", "EXPIRES IN", "LAST REFRESH", "REFRESHING", "FAILURES", "NEXT RETRY", "LAST ERROR"],
                status.credentials.map {
                    [$0.name, $0.grant, $0.hasToken ? "yes" : "NO", seconds($0.expiresInSeconds), $0.lastRefreshAt ?? "-",
                     $0.refreshing ? "yes" : "no", String($0.consecutiveFailures), seconds($0.nextRetryInSeconds), $0.lastError ?? "-"]
                }
            )
        }
        if !status.introspection.isEmpty {
            out += "\n" + table(["INTROSPECTION", "ENTRIES", "CAPACITY", "HIT RATIO", "HITS", "MISSES", "EVICTIONS"], status.introspection.map {
                [$0.name, String($0.cacheEntries), String($0.cacheCapacity), $0.hitRatio.map(percent) ?? "-",
                 String($0.hits), String($0.misses), String($0.evictions)]
            })
        }
        if let profiles = status.login, !profiles.isEmpty {
            out += "\n" + table(["LOGIN", "COOKIE KEYS", "SEALS WITH", "STORE", "SESSIONS", "PROVIDER"], profiles.map {
                [$0.name, $0.cookieKeyIds.joined(separator: ","), $0.sealingKeyId ?? "NONE", $0.sessionStore,
                 $0.sessionsInMemory.map(String.init) ?? "-", $0.authorizationEndpoint ?? "NOT DISCOVERED"]
            })
        }
        if let profiles = status.jwt, !profiles.isEmpty {
            out += "\n" + table(["JWT", "KEYS", "LAST FETCH", "RESULT", "NEXT REFRESH", "ENTRIES", "HITS", "MISSES"], profiles.map {
                [$0.name, $0.keys.isEmpty ? "NONE" : $0.keys.map { "\($0.kid) (\($0.algorithms.joined(separator: ",")))" }.joined(separator: " "),
                 $0.lastFetchAt ?? "-", fetchResult($0),
                 $0.nextRefreshAt ?? "-", String($0.cacheEntries), String($0.hits), String($0.misses)]
            })
        }
        return out
    }

    private func fetchResult(_ profile: GatewayStatusDocument.JWT) -> String {
        switch profile.lastFetchSucceeded {
        case true?: return "ok"
        case false?: return "FAILED: " + (profile.lastFetchDetail ?? "?")
        case nil: return "-"
        }
    }

    private func seconds(_ value: Int?) -> String {
        guard let total = value else { return "-" }
        if total >= 3600 { return "\(total / 3600)h\(total % 3600 / 60)m" }
        if total >= 60 { return "\(total / 60)m\(total % 60)s" }
        return "\(total)s"
    }

    /// `0.75` → `75.0%`.
    private func percent(_ ratio: Double) -> String {
        let tenths = Int((ratio * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10)%"
    }

    /// Left-aligned columns, two spaces apart.
    private func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }.joined(separator: "  ") + "\n"
        }.joined()
    }
}
