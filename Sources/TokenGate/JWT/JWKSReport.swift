import NIOPosix

/// What `tokengate jwks` found: where the keys are, which were taken and which skipped,
/// and, when a token was given, the verdict on it.
public struct JWKSReport: Sendable {
    public var jwksURL: String
    /// `kid  type  algorithms` per key taken.
    public var keys: [String]
    public var skipped: [String]
    public var maxAgeSeconds: Int?
    /// "valid: sub=…" or "refused: …" for a token given to check; nil without one.
    public var verdict: String?
}
