import Foundation
import Testing
import TokenGateSandbox

/// A throwaway CA and a certificate for `localhost` signed by it, made with openssl.
private func makeCertificates(in directory: TemporaryDirectory) async throws -> (ca: String, cert: String, key: String) {
    let dir = directory.url.path
    let script = """
    set -e
    cd '\(dir)'
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=TokenGate Test CA' 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost' 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
    """
    guard try await runChild("/bin/sh", ["-c", script], environment: ProcessInfo.processInfo.environment).status == 0 else {
        throw CertificateSetupFailed()
    }
    return ("\(dir)/ca.pem", "\(dir)/server.pem", "\(dir)/server.key")
}

private struct CertificateSetupFailed: Error {}

@Suite("HTTPS upstreams")
struct UpstreamTLSTests {
    @Test("an https upstream is reached with a configured CA file, and refused (502) without it")
    func httpsUpstreamWithCustomCA() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = try await makeCertificates(in: directory)
        let echo = try await EchoUpstream.start(tls: (files.cert, files.key))
        let config = """
        { "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:0" },
          "routes": [
            { "name": "trusted", "listener": "main", "match": { "path_prefix": "/trusted/" }, "strip_prefix": true,
              "upstream": "https://localhost:\(echo.port)/", "upstream_tls": { "ca_file": "\(files.ca)" } },
            { "name": "untrusted", "listener": "main", "match": { "path_prefix": "/untrusted/" }, "strip_prefix": true,
              "upstream": "https://localhost:\(echo.port)/" } ] }
        """
        let gateway = try await TestGateway.start(config)
        let client = try await gateway.connect()
        try await client.send("GET /trusted/hello HTTP/1.1\r\nHost: a\r\n\r\n")
        let seen = try await client.readEcho()
        #expect(seen.path == "/hello")
        #expect(seen.header("host") == "localhost:\(echo.port)")
        try await client.send("GET /untrusted/hello HTTP/1.1\r\nHost: a\r\n\r\n")
        let refused = try #require(try await client.readResponse())
        #expect(refused.status == 502)
        #expect(gatewayError(refused)?.route == "untrusted")
        #expect(echo.requestCount == 1)
        await client.close()
        await gateway.stop()
        await echo.stop()
    }
}
