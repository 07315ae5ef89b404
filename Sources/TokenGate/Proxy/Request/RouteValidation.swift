import NIOCore
import NIOSSL

/// A route's inbound validation at run time: its rules, the JWT and introspection
/// profiles it uses (at least one), and the gateway's revoked tokens (which every
/// validated token is checked against, cache hit or not).
final class RouteValidation: Sendable {
    let rules: InboundValidationConfig
    let introspection: IntrospectionProfile?
    let jwt: JWTProfile?
    let revocations: TokenRevocations

    init(rules: InboundValidationConfig, introspection: IntrospectionProfile?, jwt: JWTProfile?, revocations: TokenRevocations = TokenRevocations()) {
        self.rules = rules
        self.introspection = introspection
        self.jwt = jwt
        self.revocations = revocations
    }
}
