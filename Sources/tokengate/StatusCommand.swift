import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import TokenGate

/// `tokengate status`: a running gateway's `/status`, as tables a person can scan.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running gateway's state: configuration, routes, each profile's token and each introspection cache."
    )

    @Option(name: .long, help: "The admin listener's base URL.")
    var admin = "http://127.0.0.1:9901"

    @Flag(name: .long, help: "Print the raw /status JSON instead of tables.")
    var json = false

    func run() async throws {
        let url = admin.hasSuffix("/") ? admin + "status" : admin + "/status"
        let http = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton))
        let fetched: Result<(status: Int, body: ByteBuffer), any Error>
        do {
            // A refused connection is retried until this deadline (AsyncHTTPClient), so keep it short.
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(3))
            fetched = .success((Int(response.status.code), try await response.body.collect(upTo: 4 << 20)))
        } catch {
            fetched = .failure(error)
        }
        try? await http.shutdown()
        let body: ByteBuffer
        switch fetched {
        case .failure(let error):
            printToStandardError("error: cannot read \(url): \(error) (is the gateway running, and is --admin its admin address?)")
            throw ExitCode(1)
        case .success(let answer) where answer.status != 200:
            printToStandardError("error: \(url) answered \(answer.status)")
            throw ExitCode(1)
        case .success(let answer):
            body = answer.body
        }
        let text = String(buffer: body)
        if json {
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            return
        }
        guard let status = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            printToStandardError("error: \(url) did not answer with a JSON object")
            throw ExitCode(1)
        }
        print(StatusReport(status).text, terminator: "")
    }
}

/// Renders `/status` JSON as a header and aligned tables.
struct StatusReport {
    let status: [String: Any]

    init(_ status: [String: Any]) { self.status = status }

    var text: String {
        var out = "TokenGate \(field(status, "version"))   config \(field(status, "config_version")) (\(field(status, "config_file")))"
        out += "   started \(field(status, "started_at"))   open connections \(field(status, "open_connections"))\n"
        if let last = status["last_reload"] as? [String: Any] {
            out += "last reload: \(field(last, "result")) (\(field(last, "trigger")))"
            let errors = last["errors"] as? [String] ?? []
            out += errors.isEmpty ? "\n" : "\n" + errors.map { "  error: \($0)\n" }.joined()
        } else {
            out += "last reload: none\n"
        }
        out += "\n" + table(["LISTENER", "ADDRESS"], rows("listeners") { [field($0, "name"), field($0, "address")] })
        out += "\n" + table(["ROUTE", "LISTENER", "PREFIX", "HOST", "UPSTREAM", "CREDENTIAL", "INTROSPECTION"], rows("routes") {
            [field($0, "name"), field($0, "listener"), field($0, "path_prefix"), field($0, "host"), field($0, "upstream"),
             field($0, "credential"), field($0, "introspection")]
        })
        let credentials = rows("credentials") { entry -> [String] in
            let hasToken = entry["has_token"] as? Bool ?? false
            return [
                field(entry, "name"), field(entry, "grant"), hasToken ? "yes" : "NO",
                seconds(entry["expires_in_seconds"]), field(entry, "last_refresh_at"),
                (entry["refreshing"] as? Bool ?? false) ? "yes" : "no", field(entry, "consecutive_failures"),
                seconds(entry["next_retry_in_seconds"]), field(entry, "last_error"),
            ]
        }
        if !credentials.isEmpty {
            out += "\n" + table(["CREDENTIAL", "GRANT", "TOKEN", "EXPIRES IN", "LAST REFRESH", "REFRESHING", "FAILURES", "NEXT RETRY", "LAST ERROR"], credentials)
        }
        let caches = rows("introspection") { entry -> [String] in
            let ratio = (entry["hit_ratio"] as? Double).map { String(format: "%.1f%%", $0 * 100) } ?? "-"
            return [field(entry, "name"), field(entry, "cache_entries"), field(entry, "cache_capacity"), ratio,
                    field(entry, "hits"), field(entry, "misses"), field(entry, "evictions")]
        }
        if !caches.isEmpty {
            out += "\n" + table(["INTROSPECTION", "ENTRIES", "CAPACITY", "HIT RATIO", "HITS", "MISSES", "EVICTIONS"], caches)
        }
        return out
    }

    private func rows(_ key: String, _ row: ([String: Any]) -> [String]) -> [[String]] {
        (status[key] as? [[String: Any]] ?? []).map(row)
    }

    private func field(_ object: [String: Any], _ key: String) -> String {
        switch object[key] {
        case let text as String: return text
        case let number as NSNumber: return number.stringValue
        default: return "-"
        }
    }

    private func seconds(_ value: Any?) -> String {
        guard let number = value as? NSNumber else { return "-" }
        let total = number.intValue
        if total >= 3600 { return "\(total / 3600)h\(total % 3600 / 60)m" }
        if total >= 60 { return "\(total / 60)m\(total % 60)s" }
        return "\(total)s"
    }

    /// Left-aligned columns, two spaces apart.
    private func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ") + "\n"
        }.joined()
    }
}
