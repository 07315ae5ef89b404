import AsyncHTTPClient
import NIOPosix

/// Why `tokengate token` could not get a token; safe to print.
public struct TokenProbeError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
