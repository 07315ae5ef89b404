import AsyncHTTPClient
import NIOPosix

/// A token obtained once, for `tokengate token`: what the authorization server said.
public struct ObtainedToken: Sendable {
    public var tokenType: String
    public var scope: String?
    /// `expires_in` as sent; nil when the server sent none.
    public var expiresIn: Duration?
    /// The token itself: print it only when asked to.
    public var token: Redacted
}
