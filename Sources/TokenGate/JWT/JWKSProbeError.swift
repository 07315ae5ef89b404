import NIOPosix

/// Why `tokengate jwks` failed; safe to print.
public struct JWKSProbeError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
