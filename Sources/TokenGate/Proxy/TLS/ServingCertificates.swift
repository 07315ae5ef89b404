import Logging
import NIOConcurrencyHelpers

/// The serving certificates of every TLS listener, by listener name: what a listener's
/// accepting code asks for each connection, what a reload replaces, and what the
/// certificate watcher refreshes.
final class ServingCertificates: Sendable {
    private let byListener = NIOLockedValueBox<[String: ServingCertificate]>([:])

    /// The certificate a connection of `listener` accepted now is served with.
    func certificate(for listener: String) -> ServingCertificate? {
        byListener.withLockedValue { $0[listener] }
    }

    /// Every serving certificate, by listener name.
    var all: [(listener: String, certificate: ServingCertificate)] {
        byListener.withLockedValue { $0.map { ($0.key, $0.value) } }.sorted { $0.listener < $1.listener }
    }

    /// Certificates for the TLS listeners of `listeners`: the current one where its
    /// settings did not change (its files are the watcher's business), a new one read
    /// from the files otherwise. Problems name the key (`listeners.NAME.tls.cert_file: …`).
    func prepared(for listeners: [ListenerConfig]) -> Result<[String: ServingCertificate], ConfigurationError> {
        let current = byListener.withLockedValue { $0 }
        var made: [String: ServingCertificate] = [:]
        var issues: [ConfigIssue] = []
        for listener in listeners {
            guard let tls = listener.tls else { continue }
            if let existing = current[listener.name], existing.serves(tls, offersHTTP2: listener.http2) {
                made[listener.name] = existing
                continue
            }
            do {
                made[listener.name] = try ServingCertificate(listener: listener.name, config: tls, offersHTTP2: listener.http2)
            } catch {
                let path = ConfigPath.root.key("listeners").key(listener.name).key("tls").key(error.key)
                issues.append(ConfigIssue(.error, path, error.detail))
            }
        }
        guard issues.isEmpty else { return .failure(ConfigurationError(issues: issues, warnings: [], source: nil)) }
        return .success(made)
    }

    /// Serves `certificates` from now on (new connections; open ones keep theirs).
    func replace(with certificates: [String: ServingCertificate]) {
        byListener.withLockedValue { $0 = certificates }
    }

    /// Reads every listener's files again, takes changed good pairs and says what happened.
    func refreshAll(logger: Logger) {
        for (listener, certificate) in all {
            switch certificate.refresh() {
            case .unchanged:
                break
            case .replaced:
                logger.info("listener certificate reloaded; new connections get it", metadata: [
                    "tg.listener": "\(listener)", "expires_at": "\(certificate.expiresAt)",
                ])
            case .kept(let problem):
                logger.error("listener certificate files changed but cannot be used; the previous certificate stays", metadata: [
                    "tg.listener": "\(listener)", "detail": "\(problem)",
                ])
            }
        }
    }
}
