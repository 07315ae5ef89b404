/// Why introspection gave no answer. Safe to show: never the endpoint's URL or raw text.
struct IntrospectionError: Error, Sendable, CustomStringConvertible {
    var description: String
}
