import NIOCore
import NIOSSL

/// A route's inbound validation at run time: its rules, and the JWT and introspection
/// profiles it uses (at least one).
final class RouteValidation: Sendable {
    let rules: InboundValidationConfig
    let introspection: IntrospectionProfile?
    let jwt: JWTProfile?

    init(rules: InboundValidationConfig, introspection: IntrospectionProfile?, jwt: JWTProfile?) {
        self.rules = rules
        self.introspection = introspection
        self.jwt = jwt
    }
}
