/// An access token as the token endpoint issued it.
struct IssuedToken: Sendable {
    var accessToken: Redacted
    var expiresIn: Duration?
    var refreshToken: Redacted?
    var scope: String?
    var tokenType: String
    /// `id_token` (OpenID Connect), from an authorization code exchange.
    var idToken: Redacted? = nil
}
