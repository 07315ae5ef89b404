import Foundation

/// What the echo upstream reported receiving.
struct EchoReport {
    var method: String
    var path: String
    var query: String?
    var headers: [(name: String, value: String)]
    var bodyBytes: Int
    var body: String?

    init?(_ response: TestResponse) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let method = object["method"] as? String, let path = object["path"] as? String,
              let headers = object["headers"] as? [[String]], let bodyBytes = object["body_bytes"] as? Int else { return nil }
        self.method = method
        self.path = path
        self.query = object["query"] as? String
        self.headers = headers.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }
        self.bodyBytes = bodyBytes
        self.body = object["body"] as? String
    }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func values(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }
}

/// The `error` and `route` fields of a gateway JSON error body.
func gatewayError(_ response: TestResponse) -> (error: String, route: String?)? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
          let code = object["error"] as? String else { return nil }
    return (code, object["route"] as? String)
}

struct NotAnEchoResponse: Error, CustomStringConvertible {
    var response: TestResponse?
    var description: String { "expected an echo report, got \(response.map { "\($0.status) \($0.bodyText)" } ?? "no response")" }
}

extension RawHTTPConnection {
    /// Reads the next response and decodes the echo upstream's report from it.
    func readEcho(timeout: Duration = .seconds(10)) async throws -> EchoReport {
        let response = try await readResponse(timeout: timeout)
        guard let response, let report = EchoReport(response) else { throw NotAnEchoResponse(response: response) }
        return report
    }
}
