/// `listeners.NAME.tls`: the listener terminates TLS with this certificate.
struct ListenerTLSConfig: Sendable, Equatable {
    /// Which TLS versions a client may use at least.
    enum MinimumVersion: String, Sendable, CaseIterable {
        case tls12 = "1.2"
        case tls13 = "1.3"
    }

    /// Whether a client must present a certificate (with `client_ca_file`).
    enum ClientAuthentication: String, Sendable, CaseIterable {
        /// A client without a certificate that `client_ca_file` verifies is refused in the handshake.
        case required
        /// A client may present none; one it presents must verify.
        case optional
    }

    /// `cert_file`: PEM, the leaf first, then any intermediates. Re-read when it changes.
    var certFile: String
    /// `key_file`: PEM private key of the leaf. Re-read when it changes.
    var keyFile: String
    /// `min_version`: `"1.2"` (default) or `"1.3"`.
    var minVersion: MinimumVersion = .tls12
    /// `client_ca_file`: PEM bundle of the CAs client certificates must chain to. Default
    /// none: no client certificate is asked for.
    var clientCAFile: String?
    /// `client_auth`: `"required"` (default with a `client_ca_file`) or `"optional"`.
    var clientAuth: ClientAuthentication = .required

    static let keys = ["cert_file", "key_file", "min_version", "client_ca_file", "client_auth"]
}
