#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads secrets from the process environment and the file system.
///
/// File secrets are read again each time they are resolved, so a rotated Kubernetes
/// Secret (a file under a mounted volume) takes effect without a restart.
///
/// It holds the process environment, so it never describes or mirrors its contents:
/// printing it (a library logging `"\(service)"`, say) shows only how many variables it has.
public struct SecretResolver: Sendable, CustomStringConvertible, CustomReflectable {
    var environment: [String: String]
    /// Reads a whole file; injectable for tests.
    var readFile: @Sendable (String) throws -> [UInt8]
    /// False for `tokengate check --no-secrets`: every reference resolves to an empty value
    /// without being read (the file is checked alone, before it meets its secrets).
    private(set) var readsSecrets = true

    init(
        environment: [String: String],
        readFile: @escaping @Sendable (String) throws -> [UInt8] = SecretResolver.readWholeFile
    ) {
        self.environment = environment
        self.readFile = readFile
    }

    public var description: String { "SecretResolver(\(environment.count) environment variables)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Checks references without reading them (`tokengate check --no-secrets`).
    public static let unread: SecretResolver = {
        var resolver = SecretResolver(environment: [:])
        resolver.readsSecrets = false
        return resolver
    }()

    func resolve(_ reference: SecretReference) throws(SecretResolutionError) -> Redacted {
        if !readsSecrets { return Redacted("") }
        switch reference {
        case .inline(let value):
            return value
        case .environment(let name):
            guard let value = environment[name] else {
                throw SecretResolutionError(description: "environment variable \(name) is not set")
            }
            guard !value.isEmpty else {
                throw SecretResolutionError(description: "environment variable \(name) is empty")
            }
            return Redacted(value)
        case .file(let path):
            let bytes: [UInt8]
            do {
                bytes = try readFile(path)
            } catch {
                throw SecretResolutionError(description: "file \(path) cannot be read (\(error))")
            }
            // Files written by editors and `echo` end with a newline that is not part of the secret.
            var end = bytes.endIndex
            while end > bytes.startIndex, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") {
                end -= 1
            }
            guard end > bytes.startIndex else {
                throw SecretResolutionError(description: "file \(path) is empty")
            }
            guard let text = String(validating: bytes[..<end], as: UTF8.self) else {
                throw SecretResolutionError(description: "file \(path) is not UTF-8 text")
            }
            return Redacted(text)
        }
    }

    /// A resolver over this process's environment.
    public static func processEnvironment() -> SecretResolver {
        var environment: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return SecretResolver(environment: environment)
    }

    /// Reads a file with POSIX calls; errors carry the `strerror` text only.
    static let readWholeFile: @Sendable (String) throws -> [UInt8] = { path in
        try FileReader.readAll(path: path, limit: 1 << 20)
    }
}
