import Foundation
@testable import TokenGate
import Testing
import TokenGateSandbox

@Suite("HTTP/2 clients")
struct HTTP2Tests {
    @Test("h2c by prior knowledge and HTTP/1.1 on one listener; bodies of known and unknown length reach the upstream; a 5 MB answer arrives whole")
    func h2cAndBodies() async throws {
        try await withProxy(listenerExtras: #", "h2c": true"#) { gateway, echo in
            let url = "http://127.0.0.1:\(gateway.port())"
            let h2 = try await Curl.run(["--http2-prior-knowledge", "\(url)/hello?x=1"])
            #expect(h2.exit == 0, "\(h2.stderr)")
            #expect(h2.httpVersion == "2")
            let seen = try #require(EchoReport(h2.response))
            #expect(seen.path == "/hello")
            #expect(seen.header("x-forwarded-host") == "127.0.0.1:\(gateway.port())")
            #expect(seen.header("x-forwarded-proto") == "http")
            #expect(seen.header("transfer-encoding") == nil)
            #expect(seen.header("content-length") == nil)

            let http1 = try await Curl.run(["--http1.1", "\(url)/plain"])
            #expect(http1.httpVersion == "1.1")
            #expect(EchoReport(http1.response)?.path == "/plain")

            // A body with a length, and one whose length only the stream's end tells.
            let body = [UInt8](repeating: UInt8(ascii: "a"), count: 300_000)
            let known = try await Curl.run(["--http2-prior-knowledge", "--data-binary", "@-", "\(url)/upload"], input: body)
            let knownSeen = try #require(EchoReport(known.response))
            #expect(knownSeen.bodyBytes == 300_000)
            #expect(knownSeen.header("content-length") == "300000")
            let streamed = try await Curl.run(["--http2-prior-knowledge", "-T", "-", "-X", "POST", "\(url)/stream"], input: body)
            let streamedSeen = try #require(EchoReport(streamed.response))
            #expect(streamedSeen.bodyBytes == 300_000)
            #expect(streamedSeen.header("transfer-encoding") == "chunked")

            let large = try await Curl.run(["--http2-prior-knowledge", "-H", "X-Echo-Response-Bytes: 5000000", "\(url)/large"])
            #expect(large.response.status == 200)
            #expect(large.response.body.count == 5_000_000)
            #expect(large.httpVersion == "2")
            #expect(echo.requestCount == 5)

            let access = gateway.logs.accessLines
            #expect(access.filter { $0.contains(#""protocol":"HTTP/2""#) }.count == 4)
            let metrics = try await gateway.admin("/metrics").bodyText
            #expect(metrics.contains(#"tokengate_http2_streams_total{listener="main"} 4"#))
        }
    }

    @Test("a stream is admitted as an HTTP/1 request is: 401 with its challenge, 403 for a scope, 200 with identity headers, forged identity dropped, no route 404")
    func sameAdmission() async throws {
        let setup = try await JWTSetup.start(listenerExtras: #", "h2c": true"#)
        let url = "http://127.0.0.1:\(setup.gateway.port())"
        let none = try await Curl.run(["--http2-prior-knowledge", "\(url)/api/x"])
        #expect(none.httpVersion == "2")
        #expect(none.response.status == 401)
        #expect(none.response.header("www-authenticate")?.hasPrefix("Bearer") == true)
        #expect(gatewayError(none.response)?.error == "unauthorized")

        let token = try setup.idp.mintJWT(claims: setup.claims())
        let ok = try await Curl.run(["--http2-prior-knowledge", "-H", "Authorization: Bearer \(token)", "-H", "X-Auth-Subject: mallory", "\(url)/api/x"])
        #expect(ok.response.status == 200)
        let seen = try #require(EchoReport(ok.response))
        #expect(seen.values("x-auth-subject") == ["alice"])
        #expect(seen.header("authorization") == nil)

        let narrow = try setup.idp.mintJWT(claims: setup.claims(["scope": "profile"]))
        let refused = try await Curl.run(["--http2-prior-knowledge", "-H", "Authorization: Bearer \(narrow)", "\(url)/api/x"])
        #expect(refused.response.status == 403)
        #expect(refused.response.header("www-authenticate")?.contains("insufficient_scope") == true)

        let lost = try await Curl.run(["--http2-prior-knowledge", "\(url)/nowhere"])
        #expect(lost.response.status == 404)
        #expect(gatewayError(lost.response)?.error == "no_route")
        #expect(setup.echo.requestCount == 1)
        await setup.stop()
    }

    @Test("HTTP/2 upstreams (h2c, and h2 over TLS by ALPN): HTTP/1.1 and HTTP/2 clients both reach them, bodies both ways, one multiplexed connection; an https upstream without h2 is a 502 that says so")
    func http2Upstreams() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let h2c = try await EchoUpstream.start(http2: true)
        let h2 = try await EchoUpstream.start(tls: (certificates.cert("server"), certificates.key("server")), http2: true)
        let http1Only = try await EchoUpstream.start(tls: (certificates.cert("server"), certificates.key("server")))
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0", "h2c": true } }, "admin": { "address": "127.0.0.1:0" },
          "routes": [
            { "name": "h2c", "listener": "main", "match": { "path_prefix": "/h2c/" }, "upstream": "http://127.0.0.1:\(h2c.port)/", "upstream_protocol": "h2c" },
            { "name": "h2", "listener": "main", "match": { "path_prefix": "/h2/" }, "upstream": "https://localhost:\(h2.port)/", "upstream_protocol": "h2",
              "upstream_tls": { "ca_file": "\(certificates.ca)" } },
            { "name": "not-h2", "listener": "main", "match": { "path_prefix": "/not-h2/" }, "upstream": "https://localhost:\(http1Only.port)/", "upstream_protocol": "h2",
              "upstream_tls": { "ca_file": "\(certificates.ca)" } } ] }
        """
        let gateway = try await TestGateway.start(config)
        let url = "http://127.0.0.1:\(gateway.port())"
        for prefix in ["/h2c/", "/h2/"] {
            for version in ["--http1.1", "--http2-prior-knowledge"] {
                let get = try await Curl.run([version, "\(url)\(prefix)hello?q=1"])
                #expect(get.response.status == 200, "\(prefix) \(version): \(get.stderr)")
                let seen = try #require(EchoReport(get.response))
                #expect(seen.path == "\(prefix)hello")
                #expect(seen.header("x-forwarded-for") == "127.0.0.1")
                let body = [UInt8](repeating: UInt8(ascii: "b"), count: 200_000)
                let post = try await Curl.run([version, "--data-binary", "@-", "\(url)\(prefix)upload"], input: body)
                #expect(EchoReport(post.response)?.bodyBytes == 200_000, "\(prefix) \(version)")
                let streamed = try await Curl.run([version, "-T", "-", "-X", "POST", "\(url)\(prefix)stream"], input: body)
                #expect(EchoReport(streamed.response)?.bodyBytes == 200_000, "\(prefix) \(version)")
                let large = try await Curl.run([version, "-H", "X-Echo-Response-Bytes: 3000000", "\(url)\(prefix)large"])
                #expect(large.response.body.count == 3_000_000, "\(prefix) \(version)")
            }
        }
        // Every request on a stream of one connection per upstream (the gateway's two event
        // loops may each open one).
        #expect(h2c.http2StreamCount == 8)
        #expect(h2c.connectionCount <= 2)
        #expect(h2.connectionCount <= 2)

        let refused = try await Curl.run(["--http1.1", "\(url)/not-h2/x"])
        #expect(refused.response.status == 502)
        #expect(gatewayError(refused.response)?.route == "not-h2")
        #expect(gateway.logs.all.contains { $0.contains("did not negotiate h2") })
        await gateway.stop()
        await h2c.stop()
        await h2.stop()
        await http1Only.stop()
    }

    @Test("hostile HTTP/2 clients (rapid reset, CONTINUATION, SETTINGS, PING and empty-DATA floods) get GOAWAY and a closed connection; a window that never opens stalls only its own stream; reset streams leave no upstream connection behind; everyone else is served throughout")
    func hostileClients() async throws {
        try await withProxy(listenerExtras: #", "h2c": true"#) { gateway, echo in
            let port = gateway.port()
            for attack in ["rapid-reset", "continuation-flood", "settings-flood", "ping-flood", "empty-data-flood"] {
                let report = try await H2Attack.run(attack, port: port)
                #expect(report["goaway"] as? Bool == true, "\(attack): \(report)")
                #expect(report["goaway_error"] as? String == "ENHANCE_YOUR_CALM", "\(attack): \(report)")
                #expect(report["closed"] as? Bool == true, "\(attack): \(report)")
                #expect(report["error"] is NSNull, "\(attack): \(report)")
            }
            let stalled = try await H2Attack.run("zero-window", port: port)
            #expect(stalled["statuses"] as? [Int] == [200], "\(stalled)")
            #expect(stalled["other_client_status"] as? Int == 200, "\(stalled)")
            let normal = try await H2Attack.run("normal", port: port)
            #expect(normal["statuses"] as? [Int] == Array(repeating: 200, count: 51), "\(normal)")
            #expect(normal["goaway"] as? Bool == false)
            #expect(try await Curl.run(["--http2-prior-knowledge", "http://127.0.0.1:\(port)/after"]).response.status == 200)
            // Streams reset while their upstream connection was being made gave it back:
            // the pool's idle sweep (4 s) closes what is left, none stays open.
            #expect(await eventually(within: .seconds(20)) { echo.connectionCount - echo.closedConnectionCount <= 2 },
                    "\(echo.connectionCount - echo.closedConnectionCount) upstream connections still open")
        }
    }

    @Test("the streams a connection runs at once count against max_connections (its own slot covers one): streams over the limit are refused with REFUSED_STREAM, and a connection at the limit still serves one stream at a time")
    func streamsCountAgainstTheConnectionLimit() async throws {
        try await withProxy(listenerExtras: #", "h2c": true, "max_connections": 4"#) { gateway, echo in
            let report = try await H2Attack.run("concurrent", port: gateway.port())
            #expect(report["error"] is NSNull, "\(report)")
            // The connection's slot and three more: four streams at once; four are refused.
            #expect(report["statuses"] as? [Int] == [200, 200, 200, 200], "\(report)")
            let resets = try #require(report["reset_codes"] as? [String: String], "\(report)")
            #expect(resets.count == 4 && resets.values.allSatisfy { $0 == "REFUSED_STREAM" }, "\(resets)")
            #expect(echo.requestCount == 4, "refused streams never reach the upstream")
            // The slots went back: the next connection's streams are served.
            let after = try await Curl.run(["--http2-prior-knowledge", "http://127.0.0.1:\(gateway.port())/after"])
            #expect(after.response.status == 200, "\(after.stderr)")
            let metrics = try await gateway.admin("/metrics").bodyText
            #expect(metrics.contains(#"tokengate_connections_refused_total{listener="main"} 4"#), "\(metrics)")
        }
        try await withProxy(listenerExtras: #", "h2c": true, "max_connections": 1"#) { gateway, _ in
            let report = try await H2Attack.run("concurrent", port: gateway.port())
            #expect(report["statuses"] as? [Int] == [200], "\(report)")
            #expect((report["reset_codes"] as? [String: String])?.count == 7, "\(report)")
            let next = try await Curl.run(["--http2-prior-knowledge", "http://127.0.0.1:\(gateway.port())/one"])
            #expect(next.response.status == 200, "a connection at the limit serves a stream: \(next.stderr)")
        }
    }

    @Test("an answer given before the request's body is complete ends the stream, then RST_STREAM(NO_ERROR) asks the client to stop sending, without error (RFC 9113 §8.1)")
    func earlyAnswerResetsWithNoError() async throws {
        try await withProxy(routeExtras: #", "max_body_bytes": 1000"#, listenerExtras: #", "h2c": true"#) { gateway, echo in
            let report = try await H2Attack.run("early-answer", port: gateway.port())
            #expect(report["error"] is NSNull, "\(report)")
            #expect(report["statuses"] as? [Int] == [413], "\(report)")
            #expect(report["responses"] as? Int == 1, "the answer ends its stream: \(report)")
            #expect(report["reset_codes"] as? [String: String] == ["1": "NO_ERROR"], "\(report)")
            #expect(echo.requestCount == 0)
        }
    }

    @Test("an HTTP/2 connection that sends its preface and then nothing gets GOAWAY after the idle timeout and is closed, though it never answers the PING")
    func silentConnectionIdlesOut() async throws {
        try await withProxy(listenerExtras: #", "h2c": true, "idle_timeout_seconds": 1"#) { gateway, _ in
            let client = try await gateway.connect()
            // The preface and an empty SETTINGS frame, then silence.
            try await client.send(bytes: Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0])
            let received = try await client.readUntilClosed(timeout: .seconds(20))
            // The server's frames: SETTINGS, its ACK of ours, then GOAWAY (type 7).
            var at = 0
            var types: [UInt8] = []
            while at + 9 <= received.count {
                let length = Int(received[at]) << 16 | Int(received[at + 1]) << 8 | Int(received[at + 2])
                types.append(received[at + 3])
                at += 9 + length
            }
            #expect(types.contains(7), "frames: \(types)")
            // A connection whose stream outlasts the idle timeout (and twice it) is not idle.
            let slow = try await Curl.run(["--http2-prior-knowledge", "-H", "X-Echo-Delay-Ms: 3000", "http://127.0.0.1:\(gateway.port())/slow"])
            #expect(slow.response.status == 200, "\(slow.stderr)")
        }
    }
}

/// `Tests/Interop/h2_probe.py`: a hostile HTTP/2 client whose frames are written by hand.
enum H2Attack {
    static var script: String { DjangoOAuthToolkit.packageRoot.appendingPathComponent("Tests/Interop/h2_probe.py").path }

    static func run(_ attack: String, port: Int) async throws -> [String: Any] {
        guard FileManager.default.isExecutableFile(atPath: DjangoOAuthToolkit.python) else { throw DjangoOAuthToolkit.NotInstalled() }
        let result = try await runChild(DjangoOAuthToolkit.python, [script, attack, "127.0.0.1", "\(port)"], environment: [:], timeout: .seconds(60))
        let line = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            ?? ["output": line, "stderr": String(decoding: result.stderr, as: UTF8.self)]
    }
}
