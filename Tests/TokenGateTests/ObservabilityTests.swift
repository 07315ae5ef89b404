import Foundation
@testable import TokenGate
import Testing
import TokenGateSandbox

/// A gateway with an injecting route and a validating route in front of the sandbox.
private struct ObservedSetup {
    let idp: SandboxAuthorizationServer
    let echo: EchoUpstream
    let gateway: TestGateway

    static func start(accessLog: String = "") async throws -> ObservedSetup {
        let idp = try await startSandbox(.demo)
        let echo = try await EchoUpstream.start()
        let upstream = "http://127.0.0.1:\(echo.port)/"
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "credentials": { "billing": { "grant": "client_credentials", "token_url": "\(idp.tokenURL)", "client_id": "billing-svc",
                                        "client_secret": { "env": "BILLING_SECRET" }, "scope": "invoices:read" } },
          "introspection": { "idp": { "url": "\(idp.introspectionURL)", "client_id": "tokengate-rs",
                                      "client_secret": { "env": "RS_SECRET" } } },
          "routes": [
            { "name": "inject", "listener": "main", "match": { "path_prefix": "/inject/" }, "upstream": "\(upstream)", "credential": "billing" },
            { "name": "validate", "listener": "main", "match": { "path_prefix": "/validate/" }, "upstream": "\(upstream)",
              "validate": { "introspection": "idp", "required_scopes": ["legacy:use"] } } ]\(accessLog) }
        """
        let gateway = try await TestGateway.start(config, environment: ["BILLING_SECRET": "demo-billing-secret", "RS_SECRET": "demo-introspection-secret"])
        return ObservedSetup(idp: idp, echo: echo, gateway: gateway)
    }

    /// Sends one request on a fresh connection.
    func send(_ path: String, method: String = "GET", headers: String = "") async throws -> TestResponse {
        try #require(try await RawHTTPConnection.roundTrip(port: gateway.port(), "\(method) \(path) HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\(headers)\r\n"))
    }

    /// GET on the admin listener.
    func admin(_ path: String) async throws -> TestResponse { try await gateway.admin(path) }

    func callerToken(scope: String = "legacy:use") -> String {
        idp.issueToken(clientID: "demo-caller", scope: scope, username: "alice")
    }

    /// The access log lines written so far, parsed, once the line `last` picks (the line of
    /// the last request sent) has been written. Lines are buffered in the order requests
    /// are answered and every flush writes all of them, so from then on a line that is not
    /// there was never logged, rather than still waiting in the buffer.
    func accessLog(through last: ([String: Any]) -> Bool) async throws -> [[String: Any]] {
        try #require(await eventually(within: .seconds(5)) { parsedAccessLines().contains(where: last) }, "the last request's access log line never came")
        return parsedAccessLines()
    }

    private func parsedAccessLines() -> [[String: Any]] {
        gateway.logs.accessLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func stop() async {
        await gateway.stop()
        await echo.stop()
        await idp.stop()
    }
}

@Suite("Metrics, access log and status")
struct ObservabilityTests {
    @Test("/metrics after traffic through an injecting and a validating route: counters moved by exactly the traffic, and Prometheus's parser accepts it")
    func metricsCountTraffic() async throws {
        let setup = try await ObservedSetup.start()
        for _ in 0..<3 { #expect(try await setup.send("/inject/x").status == 200) }
        let token = setup.callerToken()
        for _ in 0..<2 { #expect(try await setup.send("/validate/x", headers: "Authorization: Bearer \(token)\r\n").status == 200) }
        #expect(try await setup.send("/validate/x").status == 401)
        let narrow = setup.callerToken(scope: "other")
        #expect(try await setup.send("/validate/x", method: "POST", headers: "Authorization: Bearer \(narrow)\r\n").status == 403)
        #expect(try await setup.send("/nowhere").status == 404)

        let scrape = try await setup.admin("/metrics")
        #expect(scrape.status == 200)
        #expect(scrape.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        LeakWatch.expectNoLeaks(in: scrape.bodyText, "/metrics")
        let samples = try await parsePrometheus(scrape.bodyText)
        let main = ["listener": "main"]
        func requests(_ route: String, _ method: String, _ status: String) -> Double? {
            samples.value("tokengate_requests_total", main.merging(["route": route, "method": method, "status": status]) { $1 })
        }
        #expect(requests("inject", "GET", "2xx") == 3)
        #expect(requests("validate", "GET", "2xx") == 2)
        #expect(requests("validate", "GET", "4xx") == 1)
        #expect(requests("validate", "POST", "4xx") == 1)
        #expect(requests("", "GET", "4xx") == 1)
        #expect(samples.value("tokengate_request_duration_seconds_count", ["route": "inject"]) == 3)
        #expect(samples.value("tokengate_upstream_duration_seconds_count", ["route": "inject"]) == 3)
        #expect(samples.value("tokengate_upstream_duration_seconds_count", ["route": "validate"]) == 2)
        #expect(samples.value("tokengate_token_requests_total", ["profile": "billing", "outcome": "success"]) == 1)
        #expect(setup.idp.calls(.token) == 1)
        #expect(samples.value("tokengate_token_valid", ["profile": "billing"]) == 1)
        #expect((samples.value("tokengate_token_expires_in_seconds", ["profile": "billing"]) ?? 0) > 3000)
        #expect(samples.value("tokengate_token_backoff", ["profile": "billing"]) == 0)
        // Token A twice (a miss, then a hit) and token B once (a miss); 401 never looked up.
        #expect(samples.value("tokengate_introspection_requests_total", ["profile": "idp", "outcome": "active"]) == 2)
        #expect(samples.value("tokengate_introspection_cache_hits_total", ["profile": "idp"]) == 1)
        #expect(samples.value("tokengate_introspection_cache_misses_total", ["profile": "idp"]) == 2)
        #expect(samples.value("tokengate_introspection_cache_entries", ["profile": "idp"]) == 2)
        #expect(samples.value("tokengate_config_info", ["version": setup.gateway.gateway.configVersion]) == 1)
        #expect(samples.first { $0.name == "tokengate_requests_total" }?.type == "counter")
        #expect(samples.first { $0.name.hasPrefix("tokengate_request_duration_seconds") }?.type == "histogram")
        await setup.stop()
    }

    @Test("upstream failures are counted by kind; a failing token endpoint shows in backoff and failure counters")
    func failureMetrics() async throws {
        let setup = try await ObservedSetup.start()
        await setup.echo.stop()
        #expect(try await setup.send("/inject/x").status == 502)
        setup.idp.setFault(.status(503, retryAfter: nil), on: .token)
        let token = try #require(setup.gateway.gateway.credentialProfile(named: "billing")?.currentToken())
        _ = setup.gateway.gateway.credentialProfile(named: "billing")?.rejected(token.value)
        // Until the gateway has the refused answer (the sandbox counting the call is earlier).
        // The checks read that same scrape: backoff is 1 only until the retry is due.
        var backingOff: [PrometheusSample] = []
        #expect(await eventually(within: .seconds(10)) {
            let text = (try? await setup.admin("/metrics").bodyText) ?? ""
            backingOff = (try? await parsePrometheus(text)) ?? []
            return backingOff.value("tokengate_token_backoff", ["profile": "billing"]) == 1
        })
        let samples = backingOff
        #expect(samples.value("tokengate_upstream_errors_total", ["route": "inject", "kind": "connect"]) == 1)
        #expect(samples.value("tokengate_requests_total", ["route": "inject", "status": "5xx"]) == 1)
        #expect((samples.value("tokengate_token_requests_total", ["profile": "billing", "outcome": "server_error"]) ?? 0) >= 1)
        #expect((samples.value("tokengate_token_refresh_failures_total", ["profile": "billing"]) ?? 0) >= 1)
        #expect(samples.value("tokengate_token_valid", ["profile": "billing"]) == 0)
        #expect(samples.value("tokengate_token_backoff", ["profile": "billing"]) == 1)
        await setup.stop()
    }

    @Test("one access log line per request: request id shared with the upstream, identity, credential, redacted query, bytes; trace context passes through")
    func accessLogLines() async throws {
        let setup = try await ObservedSetup.start()
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let injected = try await setup.send(
            "/inject/x?page=2&access_token=leaky-query-token-1",
            headers: "X-Request-Id: trace-abc-123\r\ntraceparent: \(traceparent)\r\ntracestate: vendor=a1,other=b2\r\n"
        )
        let seen = try #require(EchoReport(injected))
        #expect(seen.header("x-request-id") == "trace-abc-123")
        // W3C trace context passes through untouched.
        #expect(seen.header("traceparent") == traceparent)
        #expect(seen.header("tracestate") == "vendor=a1,other=b2")
        let token = setup.callerToken()
        let validated = try await setup.send("/validate/y?code=oauth-code-12345&state=s", method: "POST", headers: "Authorization: Bearer \(token)\r\nX-Request-Id: bad id \"quoted\"\r\n")
        let generated = try #require(EchoReport(validated)?.header("x-request-id"))
        #expect(generated.count == 24 && generated.allSatisfy(\.isHexDigit))
        #expect(try await setup.send("/validate/z").status == 401)
        LeakWatch.register(["leaky-query-token-1", "oauth-code-12345"])

        let lines = try await setup.accessLog { $0["path"] as? String == "/validate/z" }
        try #require(lines.count == 3)
        let first = lines[0], second = lines[1], third = lines[2]
        #expect(first["request_id"] as? String == "trace-abc-123")
        #expect(first["route"] as? String == "inject")
        #expect(first["credential"] as? String == "billing")
        #expect(first["path"] as? String == "/inject/x?page=2&access_token=<redacted>")
        #expect(first["status"] as? Int == 200)
        #expect(first["bytes_out"] as? Int == injected.body.count)
        #expect(first["upstream_ms"] is Double)
        #expect(second["request_id"] as? String == generated)
        #expect(second["method"] as? String == "POST")
        #expect(second["subject"] as? String == "alice")
        #expect(second["client_id"] as? String == "demo-caller")
        #expect(second["path"] as? String == "/validate/y?code=<redacted>&state=s")
        #expect(third["status"] as? Int == 401)
        #expect(third["error"] as? String == "unauthorized")
        #expect(third["upstream_ms"] is NSNull)
        #expect((third["duration_ms"] as? Double).map { $0 >= 0 } == true)
        await setup.stop()
    }

    @Test("access_log settings: sampling keeps every error, redact_all hides every query value, enabled false writes nothing")
    func accessLogSettings() async throws {
        let sampled = try await ObservedSetup.start(accessLog: #", "access_log": { "sample_rate": 0, "query": "redact_all" }"#)
        for _ in 0..<3 { #expect(try await sampled.send("/inject/x?a=1").status == 200) }
        #expect(try await sampled.send("/validate/x?user=bob&page=1").status == 401)
        let lines = try await sampled.accessLog { $0["status"] as? Int == 401 }
        #expect(lines.count == 1)
        #expect(lines.first?["path"] as? String == "/validate/x?user=<redacted>&page=<redacted>")
        await sampled.stop()

        let silent = try await ObservedSetup.start(accessLog: #", "access_log": { "enabled": false }"#)
        #expect(try await silent.send("/inject/x").status == 200)
        #expect(try await silent.send("/nowhere").status == 404)
        // Each answer is logged before it is written, so a flush now writes all there is.
        silent.gateway.gateway.telemetry.accessLog.flush()
        #expect(silent.gateway.logs.accessLines.isEmpty)
        await silent.stop()
    }

    @Test("/status shows listeners, routes, each profile's token state and each cache's hit ratio")
    func statusPage() async throws {
        let setup = try await ObservedSetup.start()
        #expect(try await setup.send("/inject/x").status == 200)
        let token = setup.callerToken()
        for _ in 0..<4 { #expect(try await setup.send("/validate/x", headers: "Authorization: Bearer \(token)\r\n").status == 200) }
        let response = try await setup.admin("/status")
        #expect(response.status == 200)
        LeakWatch.expectNoLeaks(in: response.bodyText, "/status")
        let status = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(status["config_version"] as? String == setup.gateway.gateway.configVersion)
        let listeners = try #require(status["listeners"] as? [[String: Any]])
        #expect(listeners.first?["address"] as? String == "127.0.0.1:\(setup.gateway.port())")
        let routes = try #require(status["routes"] as? [[String: Any]])
        #expect(routes.map { $0["name"] as? String } == ["inject", "validate"])
        let credential = try #require((status["credentials"] as? [[String: Any]])?.first)
        #expect(credential["name"] as? String == "billing")
        #expect(credential["has_token"] as? Bool == true)
        #expect((credential["expires_in_seconds"] as? Int).map { $0 > 3000 } == true)
        #expect(credential["last_refresh_at"] is String)
        #expect(credential["last_error"] is NSNull)
        let cache = try #require((status["introspection"] as? [[String: Any]])?.first)
        #expect(cache["cache_entries"] as? Int == 1)
        #expect(cache["hits"] as? Int == 3)
        #expect(cache["misses"] as? Int == 1)
        #expect(cache["hit_ratio"] as? Double == 0.75)
        await setup.stop()
    }

    @Test("an access log line stays one valid JSON line (or one text line) whatever the values hold")
    func accessLogEscaping() throws {
        let record = RequestRecord(
            listener: "main", route: "r", method: "GET", target: "/a?token=s3cr3t-value&x=1", status: 200, bytesIn: 0, bytesOut: 12,
            duration: .microseconds(1234), upstreamDuration: .microseconds(56), clientAddress: "::1", requestID: "id-1",
            subject: "ali\"ce\n\u{1}", clientID: "client with space", credential: nil, error: nil
        )
        let writer = AccessLogWriter(outputIsTerminal: false) { _ in }
        let jsonLine = String(decoding: writer.format(record, policy: AccessLogPolicy(.default)), as: UTF8.self)
        #expect(jsonLine.hasSuffix("}\n") && jsonLine.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(jsonLine.utf8)) as? [String: Any])
        #expect(object["subject"] as? String == "ali\"ce\n\u{1}")
        #expect(object["path"] as? String == "/a?token=<redacted>&x=1")
        #expect(object["duration_ms"] as? Double == 1.234)
        #expect(object["upstream_ms"] as? Double == 0.056)
        var text = AccessLogConfig.default
        text.format = .text
        let textLine = String(decoding: writer.format(record, policy: AccessLogPolicy(text)), as: UTF8.self)
        #expect(textLine.filter { $0 == "\n" }.count == 1)
        #expect(textLine.contains(#" main r GET /a?token=<redacted>&x=1 200 in=0 out=12 1.234ms upstream=0.056ms client=::1 id=id-1 sub="ali\"ce\n\u0001" client_id="client with space" credential=-"#))

        // The other query policies, and names added by redact_query_params (any case).
        #expect(Redaction.target("/a?token=t&x=1", policy: .drop) == "/a")
        #expect(Redaction.target("/a?Session_Ref=abc&x=1&flag", policy: .redactSensitive, extra: ["session_ref"]) == "/a?Session_Ref=<redacted>&x=1&flag")
        #expect(Redaction.target("/a?access%5Ftoken=t", policy: .redactSensitive) == "/a?access%5Ftoken=<redacted>")
        #expect(Redaction.target("/plain", policy: .redactAll) == "/plain")
    }

    @Test("timestamps are RFC 3339 UTC from plain arithmetic: the epoch, leap days, century years, far dates")
    func timestamps() {
        let cases: [(Int, Int, String)] = [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 7, "2000-02-29T00:00:00.007Z"),
            (1_709_251_199, 999, "2024-02-29T23:59:59.999Z"),
            (4_102_444_799, 0, "2099-12-31T23:59:59.000Z"),
            (4_107_542_400, 0, "2100-03-01T00:00:00.000Z"),
            (1_796_000_000, 123, "2026-11-30T00:53:20.123Z"),
        ]
        for (seconds, milliseconds, expected) in cases {
            #expect(JSONLogHandler.timestamp(epochSeconds: seconds, milliseconds: milliseconds) == expected)
        }
    }

    @Test("duration histograms render cumulative buckets, +Inf, sum and count")
    func latencyHistogram() {
        let histogram = LatencyHistogram(labels: [("route", "r\"1")], bounds: [.milliseconds(1), .milliseconds(10)])
        histogram.record(.microseconds(500))
        histogram.record(.milliseconds(1))
        histogram.record(.milliseconds(5))
        histogram.record(.seconds(2))
        var text = ""
        histogram.render(name: "d_seconds", into: &text)
        #expect(text == """
        d_seconds_bucket{route="r\\"1",le="0.001"} 2
        d_seconds_bucket{route="r\\"1",le="0.01"} 3
        d_seconds_bucket{route="r\\"1",le="+Inf"} 4
        d_seconds_sum{route="r\\"1"} 2.0065
        d_seconds_count{route="r\\"1"} 4

        """)
    }
}
