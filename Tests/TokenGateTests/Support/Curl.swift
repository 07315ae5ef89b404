import Foundation

/// What `curl` made of one request (the real client of the TLS and HTTP/2 tests).
struct CurlResult {
    /// curl's exit code: 0, or why it failed (35 handshake, 56 receive, 60 certificate, …).
    var exit: Int32
    /// The final response as a `TestResponse` (status 0 when none arrived).
    var response: TestResponse
    /// `1.1` or `2`, as curl's `%{http_version}` says.
    var httpVersion: String
    /// curl's error message.
    var stderr: String
}

enum Curl {
    /// Runs `curl` with `arguments` (and `-sS`), for one URL; reads the head and body it
    /// saved. `input` goes to its standard input (`--data-binary @-`, `-T -`).
    static func run(_ arguments: [String], input: [UInt8]? = nil, timeout: Duration = .seconds(60)) async throws -> CurlResult {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let headFile = directory.url.appendingPathComponent("head").path
        let bodyFile = directory.url.appendingPathComponent("body").path
        let result = try await runChild(
            "/usr/bin/curl", ["-sS", "--max-time", "30", "-D", headFile, "-o", bodyFile, "-w", "%{http_version}"] + arguments,
            environment: [:], input: input, timeout: timeout
        )
        let head = (try? String(contentsOfFile: headFile, encoding: .utf8)) ?? ""
        let body = (try? Data(contentsOf: URL(fileURLWithPath: bodyFile))).map { [UInt8]($0) } ?? []
        return CurlResult(
            exit: result.status, response: parse(head: head, body: body),
            httpVersion: String(decoding: result.stdout, as: UTF8.self), stderr: String(decoding: result.stderr, as: UTF8.self)
        )
    }

    /// The last head curl saved (after any `100 Continue`).
    private static func parse(head: String, body: [UInt8]) -> TestResponse {
        let blocks = head.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
        let lines = (blocks.last ?? "").components(separatedBy: "\r\n")
        let status = lines.first.flatMap { line in line.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? 0
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return TestResponse(status: status, headers: headers, body: body)
    }
}
