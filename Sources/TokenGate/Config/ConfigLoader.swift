#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads, decodes and validates `gateway.json`. `tokengate check`, `tokengate run` and
/// reloads all go through here, so they can never disagree about what is valid.
public struct ConfigLoader: Sendable {
    var resolver: SecretResolver
    /// Whether a file can be read (CA bundles); injectable for tests.
    var fileExists: @Sendable (String) -> Bool

    public init(
        resolver: SecretResolver,
        fileExists: @escaping @Sendable (String) -> Bool = { access($0, R_OK) == 0 }
    ) {
        self.resolver = resolver
        self.fileExists = fileExists
    }

    /// Loads a file. Every problem is reported at once in the thrown error.
    public func load(path: String) throws(ConfigurationError) -> LoadedConfig {
        let bytes: [UInt8]
        do {
            bytes = try FileReader.readAll(path: path, limit: 16 << 20)
        } catch {
            throw ConfigurationError(issues: [ConfigIssue(.error, .root, "cannot read the file (\(error))")], warnings: [], source: path)
        }
        return try load(bytes: bytes, source: path)
    }

    /// Loads a document held in memory.
    func load(bytes: some Collection<UInt8>, source: String? = nil) throws(ConfigurationError) -> LoadedConfig {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw ConfigurationError(issues: [ConfigIssue(.error, .root, "invalid JSON at \(error)")], warnings: [], source: source)
        }
        let diagnostics = ConfigDiagnostics()
        let config = GatewayConfigDecoder(diagnostics: diagnostics).decode(document)
        if let config {
            GatewayConfigValidator(diagnostics: diagnostics, resolver: resolver, fileExists: fileExists).validate(config)
        }
        guard let config, diagnostics.errors.isEmpty else {
            throw ConfigurationError(issues: diagnostics.errors, warnings: diagnostics.warnings, source: source)
        }
        return LoadedConfig(config: config, warnings: diagnostics.warnings, version: Self.fingerprint(bytes), source: source)
    }

    /// FNV-1a 64 of the bytes, in hex: a version label, not a security measure.
    static func fingerprint(_ bytes: some Collection<UInt8>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
