import ArgumentParser
import AsyncHTTPClient
import NIOCore
import NIOPosix
import TokenGate

/// Where a running gateway's admin listener is.
struct AdminOptions: ParsableArguments {
    @Option(name: .long, help: "The admin listener's base URL.")
    var admin = "http://127.0.0.1:9901"
}

/// GET `path` on the admin listener at `base`: the URL asked and the status and body.
func fetchAdmin(_ base: String, path: String) async -> (url: String, Result<(status: Int, body: String), any Error>) {
    await callAdmin(base, path: path, body: nil)
}

/// POST `body` (JSON) to `path` on the admin listener at `base`.
func postAdmin(_ base: String, path: String, body: [UInt8]) async -> (url: String, Result<(status: Int, body: String), any Error>) {
    await callAdmin(base, path: path, body: body)
}

/// One request to the admin listener: a GET, or a POST of JSON when there is a `body`.
private func callAdmin(_ base: String, path: String, body: [UInt8]?) async -> (url: String, Result<(status: Int, body: String), any Error>) {
    let url = (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
    let http = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton))
    let fetched: Result<(status: Int, body: String), any Error>
    do {
        var request = HTTPClientRequest(url: url)
        if let body {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        // A refused connection is retried until this deadline (AsyncHTTPClient), so keep it short.
        let response = try await http.execute(request, timeout: .seconds(3))
        let text = try await response.body.collect(upTo: 4 << 20)
        fetched = .success((Int(response.status.code), String(buffer: text)))
    } catch {
        fetched = .failure(error)
    }
    try? await http.shutdown()
    return (url, fetched)
}
