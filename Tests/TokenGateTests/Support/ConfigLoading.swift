@testable import TokenGate

/// Loads a document through the real loader with a fixed environment and a fake file
/// system (`files`: path → contents), as the configuration tests do.
func loadConfig(_ json: String, environment: [String: String] = [:], files: [String: String] = [:]) -> Result<LoadedConfig, ConfigurationError> {
    let resolver = SecretResolver(environment: environment) { path in
        guard let text = files[path] else { throw FileReader.Failure(description: "No such file or directory") }
        return Array(text.utf8)
    }
    let loader = ConfigLoader(resolver: resolver, fileExists: { files[$0] != nil })
    do {
        return .success(try loader.load(bytes: Array(json.utf8)))
    } catch {
        return .failure(error)
    }
}

/// Every error a document gets, as `path: message` lines (none when it loads).
func configErrors(_ json: String, environment: [String: String] = [:], files: [String: String] = [:]) -> [String] {
    switch loadConfig(json, environment: environment, files: files) {
    case .success: return []
    case .failure(let error): return error.issues.map(\.description)
    }
}
