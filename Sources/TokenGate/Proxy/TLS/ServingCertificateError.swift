/// Why a TLS listener's files cannot serve: the key of `listeners.NAME.tls` and what is wrong.
struct ServingCertificateError: Error, CustomStringConvertible {
    var key: String
    var detail: String
    var description: String { "\(key): \(detail)" }
}
