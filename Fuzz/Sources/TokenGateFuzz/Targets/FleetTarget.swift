@testable import TokenGate

/// The fleet's parsers of outside input: `StoreURL.parse` (the store's URL secret) and
/// `RevokeRequest.parse` (the body of `POST /revoke`), and the digest rows they make. The
/// input is tried as both.
///
/// Invariants: a URL's errors never hold its password; a parsed URL has a host and a port
/// from 1 to 65535; a revoke body that parses names exactly one thing and makes a
/// well-formed row (a digest of hex, never the value) that expires within the cap; a
/// row's key reads back through `TokenCacheKey(hex:)` or `ShortDigest(hex:)`.
enum FleetTarget {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch StoreURL.parse(text) {
        case .success(let url):
            invariant(!url.host.isEmpty && (1...65_535).contains(url.port), "a parsed store URL has no host or a port out of range")
        case .failure(let error):
            if let at = text.lastIndex(of: "@"), let colon = text[..<at].lastIndex(of: ":") {
                let password = text[text.index(after: colon)..<at]
                invariant(password.utf8.count < 6 || !error.description.contains(password), "a store URL error shows the password")
            }
        }
        guard case .success(let request) = RevokeRequest.parse(bytes) else { return }
        let now = 1_800_000_000
        let revocation = request.revocation(now: now, nowMilliseconds: now * 1000, sessionLifetime: 3600)
        invariant(revocation.isWellFormed, "a revocation row is not a hex digest of the right length")
        invariant(request.value.utf8.count < 8 || !revocation.key.contains(request.value), "a revocation row holds the value it names")
        invariant(revocation.until > now && revocation.until <= now + Gateway.maxRevocationLifetime, "a revocation expires outside its cap")
        if revocation.kind == .token {
            invariant(TokenCacheKey(hex: revocation.key)?.hex == revocation.key, "a token row's key does not read back")
        } else {
            invariant(ShortDigest(hex: revocation.key)?.hex == revocation.key, "a session row's key does not read back")
        }
    }
}
