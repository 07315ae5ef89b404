import Foundation
import NIOConcurrencyHelpers
@testable import TokenGate
import Testing
import TokenGateSandbox

/// A gateway with TLS listeners in front of the echo upstream, and the certificates it serves.
private struct TLSSetup {
    let certificates: TestCertificates
    let echo: EchoUpstream
    let gateway: TestGateway

    /// `listeners` is the JSON of the `listeners` object; every listener gets a catch-all
    /// route to the echo upstream.
    static func start(certificates: TestCertificates, listeners: String, names: [String] = ["main"],
                      certificateCheckInterval: Duration = .seconds(5)) async throws -> TLSSetup {
        let echo = try await EchoUpstream.start()
        let routes = names.map { name in
            #"{ "name": "\#(name)", "listener": "\#(name)", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:\#(echo.port)/" }"#
        }
        let config = """
        { "listeners": \(listeners), "admin": { "address": "127.0.0.1:0" }, "routes": [ \(routes.joined(separator: ", ")) ] }
        """
        do {
            let gateway = try await TestGateway.start(config, certificateCheckInterval: certificateCheckInterval)
            return TLSSetup(certificates: certificates, echo: echo, gateway: gateway)
        } catch {
            await echo.stop()
            throw error
        }
    }

    func url(_ listener: String = "main", _ path: String = "/hello") -> String {
        "https://localhost:\(gateway.port(listener))\(path)"
    }

    /// curl with the test CA trusted.
    func curl(_ arguments: [String]) async throws -> CurlResult {
        try await Curl.run(["--cacert", certificates.ca] + arguments)
    }

    func status() async throws -> [String: Any] {
        let body = try await gateway.admin("/status").body
        return try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }

    /// `/status`'s `tls` object of `listener`.
    func tlsStatus(_ listener: String = "main") async throws -> [String: Any]? {
        let listeners = try await status()["listeners"] as? [[String: Any]] ?? []
        return listeners.first { $0["name"] as? String == listener }?["tls"] as? [String: Any]
    }

    func stop() async {
        await gateway.stop()
        await echo.stop()
        certificates.remove()
    }
}

@Suite("TLS listeners")
struct ListenerTLSTests {
    @Test("curl over TLS 1.2 and 1.3, ALPN h2 and http/1.1; min_version 1.3 refuses a TLS 1.2 client; the upstream hears https")
    func versionsAndALPN() async throws {
        let certificates = try await TestCertificates.make()
        let tls = #""tls": { "cert_file": "\#(certificates.cert("server"))", "key_file": "\#(certificates.key("server"))" }"#
        let strict = #""tls": { "cert_file": "\#(certificates.cert("server"))", "key_file": "\#(certificates.key("server"))", "min_version": "1.3" }"#
        let setup = try await TLSSetup.start(certificates: certificates, listeners: """
        { "main": { "address": "127.0.0.1:0", \(tls) },
          "strict": { "address": "127.0.0.1:0", \(strict) },
          "plain11": { "address": "127.0.0.1:0", \(tls), "http2": false } }
        """, names: ["main", "strict", "plain11"])

        let tls12 = try await setup.curl(["--tlsv1.2", "--tls-max", "1.2", "--http1.1", setup.url()])
        #expect(tls12.exit == 0, "\(tls12.stderr)")
        #expect(tls12.response.status == 200)
        #expect(tls12.httpVersion == "1.1")
        let seen = try #require(EchoReport(tls12.response))
        #expect(seen.header("x-forwarded-proto") == "https")

        let tls13 = try await setup.curl(["--tlsv1.3", "--http2", setup.url()])
        #expect(tls13.exit == 0, "\(tls13.stderr)")
        #expect(tls13.response.status == 200)
        #expect(tls13.httpVersion == "2")
        #expect(EchoReport(tls13.response)?.header("x-forwarded-proto") == "https")

        // The strict listener: TLS 1.3 works, a client that stops at 1.2 fails its handshake.
        #expect(try await setup.curl(["--tlsv1.3", setup.url("strict")]).response.status == 200)
        let old = try await setup.curl(["--tlsv1.2", "--tls-max", "1.2", setup.url("strict")])
        #expect(old.exit == 35, "\(old.stderr)")
        #expect(old.response.status == 0)

        // "http2": false: ALPN offers only http/1.1, so curl --http2 speaks HTTP/1.1.
        let downgraded = try await setup.curl(["--http2", setup.url("plain11")])
        #expect(downgraded.response.status == 200)
        #expect(downgraded.httpVersion == "1.1")

        let access = setup.gateway.logs.accessLines
        #expect(access.contains { $0.contains(#""protocol":"HTTP/2""#) })
        #expect(access.contains { $0.contains(#""protocol":"HTTP/1.1""#) })
        let metrics = try await setup.gateway.admin("/metrics").bodyText
        #expect(metrics.contains(#"tokengate_connections_accepted_total{listener="main",protocol="h2"} 1"#))
        #expect(metrics.contains(#"tokengate_connections_accepted_total{listener="main",protocol="http/1.1"} 1"#))
        await setup.stop()
    }

    @Test("a client sees an expired certificate and one for another name as what they are; /status and metrics show each expiry")
    func badCertificatesAsTheClientSeesThem() async throws {
        let certificates = try await TestCertificates.make()
        let setup = try await TLSSetup.start(certificates: certificates, listeners: """
        { "expired": { "address": "127.0.0.1:0", "tls": { "cert_file": "\(certificates.cert("expired"))", "key_file": "\(certificates.key("expired"))" } },
          "other": { "address": "127.0.0.1:0", "tls": { "cert_file": "\(certificates.cert("other-name"))", "key_file": "\(certificates.key("other-name"))" } } }
        """, names: ["expired", "other"])
        let expired = try await setup.curl([setup.url("expired")])
        #expect(expired.exit == 60)
        #expect(expired.stderr.contains("expired"), "\(expired.stderr)")
        let other = try await setup.curl([setup.url("other")])
        #expect(other.exit == 60)
        #expect(other.stderr.contains("localhost"), "\(other.stderr)")
        #expect(setup.echo.requestCount == 0)

        let expiredAt = try await certificates.expiry(of: certificates.cert("expired"))
        let otherAt = try await certificates.expiry(of: certificates.cert("other-name"))
        #expect(try await setup.tlsStatus("expired")?["certificate_expires_at"] as? String == JSONLogHandler.timestamp(epochSeconds: expiredAt))
        #expect(try await setup.tlsStatus("other")?["certificate_expires_at"] as? String == JSONLogHandler.timestamp(epochSeconds: otherAt))
        let metrics = try await setup.gateway.admin("/metrics").bodyText
        let samples = try await parsePrometheus(metrics)
        #expect(samples.value("tokengate_listener_certificate_expiry_timestamp_seconds", ["listener": "expired"]) == Double(expiredAt))
        #expect(samples.value("tokengate_listener_certificate_expiry_timestamp_seconds", ["listener": "other"]) == Double(otherAt))
        await setup.stop()
    }

    @Test("a certificate rotated by a Kubernetes-style symlink swap serves new connections; no request fails during it")
    func rotationUnderLoad() async throws {
        let certificates = try await TestCertificates.make()
        // A Secret volume: files behind `..data`, a symlink to a timestamped directory.
        let secret = certificates.dir + "/secret"
        let fm = FileManager.default
        for (version, name) in [("..v1", "server"), ("..v2", "server2")] {
            try fm.createDirectory(atPath: "\(secret)/\(version)", withIntermediateDirectories: true)
            try fm.copyItem(atPath: certificates.cert(name), toPath: "\(secret)/\(version)/tls.crt")
            try fm.copyItem(atPath: certificates.key(name), toPath: "\(secret)/\(version)/tls.key")
        }
        try fm.createSymbolicLink(atPath: "\(secret)/..data", withDestinationPath: "..v1")
        try fm.createSymbolicLink(atPath: "\(secret)/tls.crt", withDestinationPath: "..data/tls.crt")
        try fm.createSymbolicLink(atPath: "\(secret)/tls.key", withDestinationPath: "..data/tls.key")
        let setup = try await TLSSetup.start(certificates: certificates, listeners: """
        { "main": { "address": "127.0.0.1:0", "tls": { "cert_file": "\(secret)/tls.crt", "key_file": "\(secret)/tls.key" } } }
        """, certificateCheckInterval: .milliseconds(100))
        let before = try await certificates.expiry(of: certificates.cert("server"))
        let after = try await certificates.expiry(of: certificates.cert("server2"))
        #expect(try await certificates.servedExpiry(port: setup.gateway.port()) == before)

        // Load: three clients, each a loop of curl runs of five requests on one connection
        // (HTTP/2 and HTTP/1.1), until told to stop (bounded in count).
        let stop = NIOLockedValueBox(false)
        let results = NIOLockedValueBox<[(exit: Int32, statuses: Int)]>([])
        let url = setup.url()
        let ca = certificates.ca
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for client in 0..<3 {
                    group.addTask {
                        for _ in 0..<60 where !stop.withLockedValue({ $0 }) {
                            let version = client == 0 ? "--http1.1" : "--http2"
                            guard let run = try? await runChild(
                                "/usr/bin/curl", ["-sS", "--cacert", ca, version, "-w", "%{http_code}\n", "--fail"] + Array(repeating: ["-o", "/dev/null", url], count: 5).flatMap { $0 },
                                environment: [:], timeout: .seconds(30)
                            ) else { continue }
                            let ok = String(decoding: run.stdout, as: UTF8.self).split(separator: "\n").filter { $0 == "200" }.count
                            results.withLockedValue { $0.append((run.status, ok)) }
                        }
                    }
                }
            }
        }
        // Some requests before the swap, then the swap (rename over the symlink: atomic).
        #expect(await eventually(within: .seconds(30)) { results.withLockedValue { $0.count } >= 3 })
        try fm.createSymbolicLink(atPath: "\(secret)/..data_tmp", withDestinationPath: "..v2")
        #expect(rename("\(secret)/..data_tmp", "\(secret)/..data") == 0)
        let swappedAt = results.withLockedValue { $0.count }
        let expected = JSONLogHandler.timestamp(epochSeconds: after)
        #expect(await eventually(within: .seconds(20)) { (try? await setup.tlsStatus()?["certificate_expires_at"] as? String) == expected })
        #expect(try await certificates.servedExpiry(port: setup.gateway.port()) == after)
        // Requests go on over the new certificate too.
        #expect(await eventually(within: .seconds(30)) { results.withLockedValue { $0.count } >= swappedAt + 3 })
        stop.withLockedValue { $0 = true }
        await load.value
        let runs = results.withLockedValue { $0 }
        #expect(runs.allSatisfy { $0.exit == 0 && $0.statuses == 5 }, "\(runs.filter { $0.exit != 0 || $0.statuses != 5 })")
        #expect(setup.gateway.logs.all.contains { $0.contains("listener certificate reloaded") })
        await setup.stop()
    }

    @Test("new files that do not make a pair keep the certificate in use, and /status says why; fixed files are taken")
    func badNewPairKeepsTheOld() async throws {
        let certificates = try await TestCertificates.make()
        let cert = certificates.dir + "/live.pem"
        let key = certificates.dir + "/live.key"
        let fm = FileManager.default
        try fm.copyItem(atPath: certificates.cert("server"), toPath: cert)
        try fm.copyItem(atPath: certificates.key("server"), toPath: key)
        let setup = try await TLSSetup.start(certificates: certificates, listeners: """
        { "main": { "address": "127.0.0.1:0", "tls": { "cert_file": "\(cert)", "key_file": "\(key)" } } }
        """, certificateCheckInterval: .milliseconds(100))
        let before = try await certificates.expiry(of: certificates.cert("server"))

        // The new certificate arrives before its key: not a pair.
        try fm.removeItem(atPath: cert)
        try fm.copyItem(atPath: certificates.cert("server2"), toPath: cert)
        #expect(await eventually(within: .seconds(20)) { (try? await setup.tlsStatus()?["problem"] as? String)?.contains("key_file") == true })
        #expect(try await setup.curl([setup.url()]).response.status == 200)
        #expect(try await certificates.servedExpiry(port: setup.gateway.port()) == before)
        #expect(setup.gateway.logs.all.contains { $0.contains("cannot be used; the previous certificate stays") })

        // Then the key: the pair is taken, the problem cleared.
        try fm.removeItem(atPath: key)
        try fm.copyItem(atPath: certificates.key("server2"), toPath: key)
        let after = try await certificates.expiry(of: certificates.cert("server2"))
        #expect(await eventually(within: .seconds(20)) { (try? await certificates.servedExpiry(port: setup.gateway.port())) == after })
        let problem = try await setup.tlsStatus()?["problem"]
        #expect(problem == nil || problem is NSNull)
        #expect(try await setup.curl([setup.url()]).response.status == 200)
        await setup.stop()
    }

    @Test("client_ca_file: without a client certificate the handshake fails; with one the request passes; optional lets both in")
    func clientCertificates() async throws {
        let certificates = try await TestCertificates.make()
        let server = #""cert_file": "\#(certificates.cert("server"))", "key_file": "\#(certificates.key("server"))""#
        let setup = try await TLSSetup.start(certificates: certificates, listeners: """
        { "main": { "address": "127.0.0.1:0", "tls": { \(server), "client_ca_file": "\(certificates.ca)" } },
          "optional": { "address": "127.0.0.1:0", "tls": { \(server), "client_ca_file": "\(certificates.ca)", "client_auth": "optional" } } }
        """, names: ["main", "optional"])
        let clientCert = ["--cert", certificates.cert("client"), "--key", certificates.key("client")]
        let without = try await setup.curl([setup.url()])
        #expect(without.exit != 0)
        #expect(without.response.status == 0)
        // The verified certificate reaches the upstream as identity headers, over either
        // protocol; a client's own copies of them never do.
        let fingerprint = try await runChild("/bin/sh", ["-c", "openssl x509 -in '\(certificates.cert("client"))' -outform DER | openssl dgst -sha256 -r"], environment: [:])
        let expectedFingerprint = String(String(decoding: fingerprint.stdout, as: UTF8.self).prefix(64))
        for version in ["--http2", "--http1.1"] {
            let forged = ["-H", "X-Client-Cert-Subject: CN=admin", "-H", "X-Client-Cert-SAN: DNS:admin.example"]
            let passed = try await setup.curl(clientCert + forged + [version, setup.url()])
            #expect(passed.response.status == 200)
            let seen = try #require(EchoReport(passed.response))
            // RFC 4514 order: the last RDN of `/CN=alice/O=Example` first.
            #expect(seen.values("x-client-cert-subject") == ["O=Example,CN=alice"])
            #expect(seen.values("x-client-cert-san") == ["DNS:client.example, email:alice@example.com"])
            #expect(seen.values("x-client-cert-sha256") == [expectedFingerprint])
        }
        let anonymous = try await setup.curl(["-H", "X-Client-Cert-Subject: CN=admin", setup.url("optional")])
        #expect(try #require(EchoReport(anonymous.response)).header("x-client-cert-subject") == nil)
        #expect(try await setup.curl([setup.url("optional")]).response.status == 200)
        #expect(try await setup.curl(clientCert + [setup.url("optional")]).response.status == 200)
        // A certificate its CA did not sign is refused even where one is optional.
        let stranger = try await setup.curl(["--cert", certificates.cert("stranger"), "--key", certificates.key("stranger"), setup.url("optional")])
        #expect(stranger.exit != 0)
        await setup.stop()
    }

    @Test("check: files that are no pair are named by their key; a TLS listener is https for login; a plain one without external_url is warned about")
    func checkAndLoginScheme() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let mismatched = """
        { "listeners": { "main": { "address": "127.0.0.1:0", "tls": { "cert_file": "\(certificates.cert("server"))", "key_file": "\(certificates.key("server2"))" } } },
          "routes": [ { "name": "r", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:9/" } ] }
        """
        let pairErrors = realFileErrors(mismatched)
        #expect(pairErrors.contains { $0.hasPrefix("listeners.main.tls.key_file") && $0.contains("not the private key") }, "\(pairErrors)")
        let missing = mismatched.replacingOccurrences(of: certificates.key("server2"), with: certificates.dir + "/absent.key")
        let missingErrors = realFileErrors(missing)
        #expect(missingErrors.contains { $0.hasPrefix("listeners.main.tls.key_file") && $0.contains("cannot be read") }, "\(missingErrors)")

        func login(listener: String) -> String {
            """
            { "listeners": { "main": { \(listener) } },
              "login": { "app": { "issuer": "https://idp.example", "client_id": "app", "cookie_keys": [ { "id": "k1", "secret": { "env": "KEY" } } ] } },
              "routes": [ { "name": "r", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:9/", "login": "app" } ] }
            """
        }
        let key = ["KEY": "0123456789abcdef0123456789abcdef-key"]
        let plain = try loadWithRealFiles(login(listener: #""address": "127.0.0.1:0""#), environment: key).get()
        #expect(plain.warnings.contains { $0.path.description == "login.app.external_url" && $0.message.contains("redirect URIs are built as https") })
        let behindProxy = try loadWithRealFiles(login(listener: #""address": "127.0.0.1:0", "trusted_proxies": ["10.0.0.0/8"]"#), environment: key).get()
        #expect(!behindProxy.warnings.contains { $0.path.description == "login.app.external_url" })
        let tls = try loadWithRealFiles(login(listener: """
        "address": "127.0.0.1:0", "tls": { "cert_file": "\(certificates.cert("server"))", "key_file": "\(certificates.key("server"))" }
        """), environment: key).get()
        #expect(!tls.warnings.contains { $0.path.description == "login.app.external_url" })
    }
}

/// Loads `json` as `tokengate check` does, files read from the disk.
private func loadWithRealFiles(_ json: String, environment: [String: String] = [:]) -> Result<LoadedConfig, ConfigurationError> {
    do {
        return .success(try ConfigLoader(resolver: SecretResolver(environment: environment)).load(bytes: Array(json.utf8)))
    } catch {
        return .failure(error)
    }
}

private func realFileErrors(_ json: String) -> [String] {
    switch loadWithRealFiles(json) {
    case .success: return []
    case .failure(let error): return error.issues.map(\.description)
    }
}

@Suite("client certificate identity")
struct ClientCertificateIdentityTests {
    @Test("control bytes are kept as \\XX, never dropped or truncated; a comma inside a name cannot split the list")
    func escaping() {
        #expect(ClientCertificateIdentity.escapedControls("CN=evil\u{0}.example") == #"CN=evil\00.example"#)
        #expect(ClientCertificateIdentity.escapedControls("CN=a\r\nX-Injected: 1") == #"CN=a\0D\0AX-Injected: 1"#)
        #expect(ClientCertificateIdentity.escapedControls("CN=plain") == "CN=plain")
        #expect(ClientCertificateIdentity.escapedName("a.example, DNS:b.example") == #"a.example\2C DNS:b.example"#)
        #expect(ClientCertificateIdentity.escapedName(#"back\slash"#) == #"back\5Cslash"#)
    }
}
