/// Why a key set could not be had. Safe to show: never a token or a secret.
struct JWKSError: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
