import NIOCore

/// `introspection.NAME`: an RFC 7662 endpoint and its cache.
public struct IntrospectionProfileConfig: Sendable, Equatable {
    var name: String
    /// `url`: the introspection endpoint. Required.
    var url: UpstreamURL
    /// `client_id`, `client_secret`: the resource server's credentials. Required.
    var clientID: String
    var clientSecret: SecretReference
    /// `auth_method`: default `client_secret_basic`.
    var authMethod: CredentialProfileConfig.AuthMethod
    /// `timeout_seconds`: default 5.
    var timeout: Duration
    /// `ca_file`: PEM bundle. Default system roots.
    var caFile: String?
    /// `cache.max_entries`: default 10000.
    var maxEntries: Int
    /// `cache.max_ttl_seconds`: longest an active answer is reused. Default 300.
    var maxTTL: Duration
    /// `cache.negative_ttl_seconds`: how long an inactive answer is reused. Default 10.
    var negativeTTL: Duration
    /// `cache.negative_max_entries`: inactive answers are cached apart from active ones, in
    /// a cache of this size, so random tokens cannot evict real ones. Default 1024.
    var negativeMaxEntries: Int = 1024
    /// `max_in_flight`: most introspection calls in flight at once; past it a request is
    /// answered 503 at once with `Retry-After`. Default 64.
    var maxInFlight: Int = 64
    /// `allow_insecure_http`: permit a plain-http `url` to a non-loopback host. Default false.
    var allowInsecureHTTP: Bool = false
}
