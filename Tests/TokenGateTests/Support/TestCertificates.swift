import Foundation

/// A throwaway CA and certificates signed by it, made by `openssl` for one test: servers
/// for `localhost`/127.0.0.1 (two, to rotate between), one for another name, an expired
/// one, and a client certificate.
struct TestCertificates {
    let directory: TemporaryDirectory
    var dir: String { directory.url.path }
    var ca: String { "\(dir)/ca.pem" }
    /// `name.pem` and `name.key` for `server`, `server2`, `other-name`, `expired`, `client`,
    /// `stranger` (self-signed).
    func cert(_ name: String) -> String { "\(dir)/\(name).pem" }
    func key(_ name: String) -> String { "\(dir)/\(name).key" }

    struct SetupFailed: Error, CustomStringConvertible {
        var description: String
    }

    static func make() async throws -> TestCertificates {
        let directory = try TemporaryDirectory()
        let script = """
        set -e
        cd '\(directory.url.path)'
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3 -subj '/CN=TokenGate Test CA' 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > localhost.cnf
        printf 'subjectAltName=DNS:other.example\\n' > other.cnf
        printf 'subjectAltName=DNS:client.example,email:alice@example.com\\nextendedKeyUsage=clientAuth\\n' > client.cnf
        sign() { # name subject ext days
          openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
          openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days "$4" -extfile "$3" 2>/dev/null
        }
        sign server '/CN=localhost' localhost.cnf 2
        sign server2 '/CN=localhost' localhost.cnf 3
        sign other-name '/CN=other.example' other.cnf 2
        sign client '/CN=alice/O=Example' client.cnf 2
        # A client certificate no CA of the tests signed.
        openssl req -x509 -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.pem -days 2 -subj '/CN=stranger' 2>/dev/null
        # Expired: openssl ca sets the dates x509 -req cannot.
        printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=index.txt\\nnew_certs_dir=.\\nserial=serial\\ndefault_md=sha256\\npolicy=p\\ncopy_extensions=copy\\n[p]\\ncommonName=supplied\\n' > ca.cnf
        : > index.txt
        echo 1000 > serial
        openssl req -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr -subj '/CN=localhost' 2>/dev/null
        openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem -notext \\
          -startdate 20200101000000Z -enddate 20200102000000Z -extfile localhost.cnf 2>/dev/null
        """
        let result = try await runChild("/bin/sh", ["-c", script], environment: ProcessInfo.processInfo.environment)
        guard result.status == 0 else {
            directory.remove()
            throw SetupFailed(description: "openssl failed: \(String(decoding: result.stderr, as: UTF8.self))")
        }
        return TestCertificates(directory: directory)
    }

    /// A certificate file's `notAfter`, in seconds since 1970 (read by openssl).
    func expiry(of certificate: String) async throws -> Int {
        let result = try await runChild("/usr/bin/openssl", ["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in", certificate], environment: [:])
        return try Self.notAfter(String(decoding: result.stdout, as: UTF8.self))
    }

    /// The `notAfter` of the certificate a server on `port` presents now (a new connection).
    func servedExpiry(port: Int) async throws -> Int {
        let script = "openssl s_client -connect 127.0.0.1:\(port) -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -enddate -dateopt iso_8601"
        let result = try await runChild("/bin/sh", ["-c", script], environment: ProcessInfo.processInfo.environment, timeout: .seconds(20))
        return try Self.notAfter(String(decoding: result.stdout, as: UTF8.self))
    }

    /// `notAfter=2026-12-05 15:34:40Z` as seconds since 1970.
    private static func notAfter(_ text: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        guard let date = formatter.date(from: String(trimmed.dropFirst("notAfter=".count))) else { throw SetupFailed(description: "no date in \(trimmed)") }
        return Int(date.timeIntervalSince1970)
    }

    func remove() { directory.remove() }
}
