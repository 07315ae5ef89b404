import Crypto
import NIOConcurrencyHelpers
import NIOSSL

/// A TLS listener's certificate and key as their files hold them, ready to serve: the
/// `NIOSSLContext` each new connection takes, and what `/status` and the metrics show.
///
/// `refresh()` reads the files again (a Kubernetes Secret swaps a symlink under them, an
/// operator or cert-manager rewrites them): when their bytes changed and the new pair is
/// good, new connections get it, and connections already open keep theirs; when it is bad
/// (unreadable, not PEM, a key that is not the certificate's), the pair in use stays and
/// `problem` says why until the files are fixed.
final class ServingCertificate: Sendable {
    /// What one good read of the files made.
    struct Loaded: Sendable {
        let context: NIOSSLContext
        /// The leaf certificate's `notAfter`, in seconds since 1970.
        let expiresAt: Int64
        /// SHA-256 of the files' bytes, to see whether they changed.
        let digest: [UInt8]
    }

    /// What a `refresh` found.
    enum Refresh: Equatable {
        case unchanged
        case replaced
        /// The files changed but the new pair cannot be used; the old one serves on.
        case kept(problem: String)
    }

    /// Largest certificate, key or CA file read (a chain is a few KiB).
    static let maxFileBytes = 1 << 20

    let listener: String
    let config: ListenerTLSConfig
    /// Whether ALPN offers `h2`.
    let offersHTTP2: Bool
    private let state: NIOLockedValueBox<(loaded: Loaded, problem: String?)>

    /// Reads the files; throws what is wrong with them (the listener cannot start).
    init(listener: String, config: ListenerTLSConfig, offersHTTP2: Bool) throws(ServingCertificateError) {
        self.listener = listener
        self.config = config
        self.offersHTTP2 = offersHTTP2
        let loaded = try Self.load(config, offersHTTP2: offersHTTP2)
        state = NIOLockedValueBox((loaded, nil))
    }

    /// The context for a connection accepted now.
    var context: NIOSSLContext { state.withLockedValue { $0.loaded.context } }

    /// The serving certificate's expiry, in seconds since 1970.
    var expiresAt: Int64 { state.withLockedValue { $0.loaded.expiresAt } }

    /// Why the files' newest content is not served, while it is not.
    var problem: String? { state.withLockedValue { $0.problem } }

    /// Whether this serves what `config` and `offersHTTP2` ask for (a reload keeps it then).
    func serves(_ config: ListenerTLSConfig, offersHTTP2: Bool) -> Bool {
        self.config == config && self.offersHTTP2 == offersHTTP2
    }

    /// Reads the files again and takes a changed, good pair.
    func refresh() -> Refresh {
        let digest: [UInt8]
        do {
            digest = try Self.digest(of: Self.readFiles(config))
        } catch {
            return record(problem: error.description, digest: nil)
        }
        if state.withLockedValue({ $0.loaded.digest == digest && $0.problem == nil }) { return .unchanged }
        do {
            let loaded = try Self.load(config, offersHTTP2: offersHTTP2)
            state.withLockedValue { $0 = (loaded, nil) }
            return .replaced
        } catch {
            return record(problem: error.description, digest: digest)
        }
    }

    private func record(problem: String, digest: [UInt8]?) -> Refresh {
        let isNew = state.withLockedValue { current -> Bool in
            // The files went back to what is served: nothing is wrong any more.
            if let digest, digest == current.loaded.digest {
                current.problem = nil
                return false
            }
            defer { current.problem = problem }
            return current.problem != problem
        }
        return isNew ? .kept(problem: problem) : .unchanged
    }

    /// The bytes of the certificate, key and CA files, in that order.
    private static func readFiles(_ config: ListenerTLSConfig) throws(ServingCertificateError) -> (cert: [UInt8], key: [UInt8], ca: [UInt8]?) {
        func read(_ path: String, _ key: String) throws(ServingCertificateError) -> [UInt8] {
            do {
                return try FileReader.readAll(path: path, limit: maxFileBytes)
            } catch {
                throw ServingCertificateError(key: key, detail: "cannot read \(path): \(error)")
            }
        }
        let cert = try read(config.certFile, "cert_file")
        let key = try read(config.keyFile, "key_file")
        let ca = try config.clientCAFile.map { path throws(ServingCertificateError) in try read(path, "client_ca_file") }
        return (cert, key, ca)
    }

    private static func digest(of files: (cert: [UInt8], key: [UInt8], ca: [UInt8]?)) -> [UInt8] {
        var hash = SHA256()
        hash.update(data: files.cert)
        hash.update(data: [0])
        hash.update(data: files.key)
        hash.update(data: [0])
        if let ca = files.ca { hash.update(data: ca) }
        return Array(hash.finalize())
    }

    /// Reads and checks the files, and makes the server context.
    static func load(_ config: ListenerTLSConfig, offersHTTP2: Bool) throws(ServingCertificateError) -> Loaded {
        let files = try readFiles(config)
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(files.cert)
        } catch {
            throw ServingCertificateError(key: "cert_file", detail: "\(config.certFile) is not a PEM certificate chain (\(error))")
        }
        guard let leaf = chain.first else {
            throw ServingCertificateError(key: "cert_file", detail: "\(config.certFile) holds no certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: files.key, format: .pem)
        } catch {
            // The error never quotes the key's bytes.
            throw ServingCertificateError(key: "key_file", detail: "\(config.keyFile) is not a PEM private key")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = config.minVersion == .tls13 ? .tlsv13 : .tlsv12
        tls.applicationProtocols = offersHTTP2 ? ["h2", "http/1.1"] : ["http/1.1"]
        if let caBytes = files.ca, let caFile = config.clientCAFile {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMBytes(caBytes)
            } catch {
                throw ServingCertificateError(key: "client_ca_file", detail: "\(caFile) is not a PEM certificate bundle (\(error))")
            }
            guard !roots.isEmpty else { throw ServingCertificateError(key: "client_ca_file", detail: "\(caFile) holds no certificate") }
            tls.trustRoots = .certificates(roots)
            tls.certificateVerification = config.clientAuth == .required ? .noHostnameVerification : .optionalVerification
            tls.sendCANameList = true
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw ServingCertificateError(key: "key_file", detail: "\(config.keyFile) is not the private key of \(config.certFile)'s certificate (\(error))")
        }
        return Loaded(context: context, expiresAt: Int64(leaf.notValidAfter), digest: digest(of: files))
    }
}
