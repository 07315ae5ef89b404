/// The introspection cache key of the last bearer token a connection carried. A
/// keep-alive client sends the same token request after request; its key is a salted
/// SHA-256, so computing it once per connection rather than once per request saves the
/// hash on every cache hit. The token is held only as long as the connection (it is in
/// the connection's memory anyway) and never shown.
struct TokenKeyMemo {
    private var token: String?
    /// Weak: a reload must be able to free the old profile and its cache.
    private weak var profile: IntrospectionProfile?
    private var key: IntrospectionProfile.Key?

    mutating func key(for token: String, in profile: IntrospectionProfile) -> IntrospectionProfile.Key {
        if let key, self.profile === profile, self.token == token { return key }
        let key = profile.key(for: token)
        self.token = token
        self.profile = profile
        self.key = key
        return key
    }
}
