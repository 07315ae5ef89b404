import NIOCore

/// `routes[i].validate`: inbound bearer-token validation: locally for JWTs of a `jwt`
/// profile's issuer, by introspection for everything else.
public struct InboundValidationConfig: Sendable, Equatable {
    /// `introspection`: the introspection profile. At least one of `introspection` and
    /// `jwt` is required.
    var introspection: String?
    /// `jwt`: the JWT profile. With `introspection` too, a token that is a JWT from the
    /// profile's issuer is checked locally and any other is introspected.
    public var jwt: String? = nil
    /// `required_scopes`: all must be granted. Default none.
    var requiredScopes: [String]
    /// `audience`: the token's `aud` must contain it. Default unchecked.
    var audience: String?
    /// `issuer`: the token's `iss` must equal it. Default unchecked.
    var issuer: String?
    /// `forward_authorization`: pass the caller's Authorization header upstream. Default false.
    var forwardAuthorization: Bool
    /// `identity_headers`: header → claim. Default `X-Auth-Subject` ← `sub`,
    /// `X-Auth-Scope` ← `scope`, `X-Auth-Client-Id` ← `client_id`.
    var identityHeaders: [(header: String, claim: String)]
    /// `realm`: the `WWW-Authenticate` realm. Default `"tokengate"`.
    var realm: String

    static let defaultIdentityHeaders: [(header: String, claim: String)] = [
        ("X-Auth-Subject", "sub"), ("X-Auth-Scope", "scope"), ("X-Auth-Client-Id", "client_id"),
    ]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.introspection == rhs.introspection && lhs.jwt == rhs.jwt && lhs.requiredScopes == rhs.requiredScopes
            && lhs.audience == rhs.audience && lhs.issuer == rhs.issuer
            && lhs.forwardAuthorization == rhs.forwardAuthorization && lhs.realm == rhs.realm
            && lhs.identityHeaders.map { "\($0.header)=\($0.claim)" } == rhs.identityHeaders.map { "\($0.header)=\($0.claim)" }
    }
}
