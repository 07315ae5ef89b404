import Testing
@testable import TokenGate

/// `/status` is one model for the admin listener (which writes it) and `tokengate status`
/// (which reads it): what one writes the other reads back unchanged, in the shape the
/// admin JSON has always had.
@Suite("/status document")
struct GatewayStatusDocumentTests {
    private static let document = GatewayStatusDocument(
        version: "0.1.0", configVersion: "00ff", configFile: nil, startedAt: "2026-12-01T00:00:00.000Z",
        lastReload: GatewayStatusDocument.Reload(trigger: "SIGHUP", time: 1_796_000_000, result: "failed", version: "00ff", errors: ["routes[0].listener: no listener named \"x\""]),
        openConnections: 2, workers: 1,
        listeners: [GatewayStatusDocument.Listener(name: "main", address: "[::1]:8080", protocols: ["http/1.1"])],
        routes: [GatewayStatusDocument.Route(
            name: "api", listener: "main", pathPrefix: "/api/", host: nil, upstream: "http://127.0.0.1:3000/", credential: "billing",
            introspection: nil, jwt: nil, login: nil
        )],
        credentials: [GatewayStatusDocument.Credential(
            name: "billing", grant: "client_credentials", tokenUrl: "https://idp.example/token", hasToken: true, expiresInSeconds: 3000,
            refreshInSeconds: 2400, scope: nil, lastRefreshAt: "2026-12-01T00:00:01.000Z", refreshing: false, consecutiveFailures: 0,
            lastError: nil, nextRetryInSeconds: nil
        )],
        introspection: [GatewayStatusDocument.Introspection(
            name: "idp", url: "https://idp.example/introspect", cacheEntries: 1, cacheCapacity: 10_000, inactiveEntries: 0,
            inactiveCapacity: 1024, callsInFlight: 0, maxInFlight: 64, hits: 3, misses: 1, evictions: 0, hitRatio: 0.75
        )],
        jwt: [], login: []
    )

    @Test("keys are snake_case in declaration order, nil is null, strings are escaped, numbers print as before")
    func writtenShape() {
        let json = Self.document.json
        #expect(json.hasPrefix(#"{"version":"0.1.0","config_version":"00ff","config_file":null,"started_at":"2026-12-01T00:00:00.000Z","last_reload":{"trigger":"SIGHUP","time":1796000000,"result":"failed","version":"00ff","errors":["routes[0].listener: no listener named \"x\""]},"open_connections":2,"workers":1,"#))
        #expect(json.contains(#""listeners":[{"name":"main","address":"[::1]:8080","protocols":["http/1.1"],"tls":null}]"#))
        #expect(json.contains(#""path_prefix":"/api/","host":null,"upstream":"http://127.0.0.1:3000/""#), "slashes are not escaped")
        #expect(json.contains(#""token_url":"https://idp.example/token","has_token":true,"expires_in_seconds":3000"#))
        #expect(json.contains(#""last_error":null,"next_retry_in_seconds":null}"#))
        #expect(json.contains(#""evictions":0,"hit_ratio":0.75}"#))
        #expect(json.hasSuffix(#""jwt":[],"login":[],"store":null,"revoked_tokens":null}"#), "no store: null")
    }

    @Test("tokengate status reads back exactly what the admin listener writes")
    func roundTrip() throws {
        let read = try GatewayStatusDocument.decode(Array(Self.document.json.utf8))
        #expect(read == Self.document)
    }

    @Test("a gateway older than JWT validation, browser login and the store is still readable")
    func olderDocument() throws {
        var json = Self.document.json
        json.removeLast(#","jwt":[],"login":[],"store":null,"revoked_tokens":null}"#.count)
        let read = try GatewayStatusDocument.decode(Array((json + "}").utf8))
        #expect(read.jwt == nil)
        #expect(read.login == nil)
        #expect(read.store == nil)
        #expect(read.credentials == Self.document.credentials)
    }

    @Test("POST /reload answers the reload as /status shows it")
    func reloadAnswer() {
        let outcome = ReloadOutcome(trigger: "admin", time: 5, succeeded: true, version: "v2", errors: [])
        #expect(outcome.json == #"{"trigger":"admin","time":5,"result":"ok","version":"v2","errors":[]}"#)
    }
}
