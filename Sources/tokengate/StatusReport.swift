import ArgumentParser
import AsyncHTTPClient
import NIOCore
import NIOPosix
import TokenGate

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
        out += "\n" + table(["LISTENER", "ADDRESS", "PROTOCOLS", "CERTIFICATE"], status.listeners.map { listener in
            let certificate = listener.tls.map { tls in "expires \(tls.certificateExpiresAt)" + (tls.problem.map { "; new files refused: \($0)" } ?? "") } ?? "-"
            return [listener.name, listener.address, (listener.protocols ?? ["http/1.1"]).joined(separator: ","), certificate]
        })
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
        if let store = status.store {
            out += "\n" + table(["STORE", "READ-ONLY", "PENDING REVOCATIONS", "LAST SYNC", "SCHEMA", "REVOKED TOKENS", "PROBLEM"], [[
                store.up ? "up" : "DOWN", store.readOnly ? "YES" : "no", String(store.pendingRevocations), store.lastSyncAt ?? "-",
                store.schemaVersion.map(String.init) ?? "-", status.revokedTokens.map(String.init) ?? "-", store.problem ?? "-",
            ]])
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
