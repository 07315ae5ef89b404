/// The cache key of the last bearer token a connection carried. A keep-alive client sends
/// the same token request after request; its key is a salted SHA-256, so computing it once
/// per connection rather than once per request saves the hash on every cache hit. The
/// token is held only as long as the connection (it is in the connection's memory anyway)
/// and never shown.
struct TokenKeyMemo {
    private var token: String?
    private var key: TokenCacheKey?

    mutating func key(for token: String) -> TokenCacheKey {
        if let key, self.token == token { return key }
        let key = TokenCacheKey(token: token)
        self.token = token
        self.key = key
        return key
    }
}
