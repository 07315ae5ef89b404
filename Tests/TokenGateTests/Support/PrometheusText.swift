import Foundation

/// One sample of a scrape, as Prometheus's own Python client parses it.
struct PrometheusSample: Sendable {
    var type: String
    var name: String
    var labels: [String: String]
    var value: Double
}

struct PrometheusParseError: Error, CustomStringConvertible {
    var description: String
}

/// Parses exposition text with `prometheus_client.parser` (installed into the interop venv
/// by `./scripts/test.sh`), so what passes here is what a Prometheus server accepts.
func parsePrometheus(_ text: String) async throws -> [PrometheusSample] {
    let python = DjangoOAuthToolkit.python
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw PrometheusParseError(description: "no Python venv at \(python): run ./scripts/test.sh (it installs prometheus-client)")
    }
    let script = """
    import json, sys
    from prometheus_client.parser import text_string_to_metric_families
    out = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        for sample in family.samples:
            out.append([family.type, sample.name, sample.labels, sample.value])
    json.dump(out, sys.stdout)
    """
    let result = try await runChild(python, ["-c", script], environment: ProcessInfo.processInfo.environment, input: Array(text.utf8))
    guard result.status == 0 else {
        throw PrometheusParseError(description: "prometheus_client refused the exposition: \(String(decoding: result.stderr, as: UTF8.self))")
    }
    guard let rows = try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [[Any]] else {
        throw PrometheusParseError(description: "unexpected parser output")
    }
    return rows.compactMap { row in
        guard row.count == 4, let type = row[0] as? String, let name = row[1] as? String,
              let labels = row[2] as? [String: String], let value = (row[3] as? NSNumber)?.doubleValue else { return nil }
        return PrometheusSample(type: type, name: name, labels: labels, value: value)
    }
}

extension [PrometheusSample] {
    /// The value of the sample named `name` whose labels include `labels`; nil if absent.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
    }
}
