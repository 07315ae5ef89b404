import Logging
import ServiceLifecycle

/// Reads every TLS listener's certificate, key and CA files again every `interval`, so a
/// rotated certificate (a Kubernetes Secret's symlink swap, cert-manager, an operator's
/// `cp`) serves new connections without a restart or a dropped connection.
struct CertificateWatcherService: Service, CustomStringConvertible {
    let certificates: ServingCertificates
    let interval: Duration
    let logger: Logger

    var description: String { "listener certificate watcher" }

    func run() async {
        await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                certificates.refreshAll(logger: logger)
            }
        }
    }
}
