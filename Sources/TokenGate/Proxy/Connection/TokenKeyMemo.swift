/// The cache key of the last bearer token a connection carried. A keep-alive client sends
/// the same token request after request; its key is a salted SHA-256, so computing it once
/// per connection rather than once per request saves the hash on every cache hit. The
/// token is held only as long as the connection (it is in the connection's memory anyway)
/// and never shown.
///
/// The token is compared byte by byte, never with `String ==`: that is canonical
/// equivalence, under which `K` and U+212A KELVIN SIGN are equal, so a spelling of a valid
/// token that is not even a b64token would get the valid token's key, and its cache entry.
/// The cache key hashes the UTF-8 bytes; the memo must agree with it. Allocation-free.
struct TokenKeyMemo {
    private var token: String?
    private var key: TokenCacheKey?

    mutating func key(for token: String) -> TokenCacheKey {
        if let key, let memo = self.token, ExactBytes.equal(memo, token) { return key }
        let key = TokenCacheKey(token: token)
        self.token = token
        self.key = key
        return key
    }
}
