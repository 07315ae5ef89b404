import Crypto

/// One revocation as the fleet shares it: a row of the store's `tokengate_revocations`.
///
/// It holds a digest of what it names, never the name: a login session's id, a provider
/// session (`sid`) or a subject (`sub`) as the 16-byte `ShortDigest` a login profile's
/// `RevocationList` keys by, a bearer token as the SHA-256 a `TokenCacheKey` holds. So a
/// dump of the store shows no token and no session id, and a replica applies a row
/// without learning what it names.
struct FleetRevocation: Sendable, Equatable {
    enum Kind: String, Sendable, CaseIterable {
        /// One login session, by its id.
        case session
        /// Every session of a provider session (OpenID Connect `sid`).
        case sid
        /// Every session of a subject.
        case sub
        /// A bearer token.
        case token
    }

    var kind: Kind
    /// Hex of the digest's words: 32 digits (`ShortDigest`) or 64 (`TokenCacheKey`).
    var key: String
    /// The login profile whose sessions it ends; nil for every profile (and for tokens).
    var profile: String?
    /// Milliseconds since the epoch: `sid` and `sub` end the sessions logged in at or
    /// before this.
    var at: Int
    /// Seconds since the epoch: when what it names would have expired anyway, and the row
    /// with it.
    var until: Int

    /// A logged-out session, until its absolute end.
    static func session(_ session: LoginSession, profile: String, now: Int) -> FleetRevocation {
        FleetRevocation(kind: .session, key: ShortDigest(session.id).hex, profile: profile, at: now * 1000, until: session.expiresAt)
    }

    /// A session id named by an operator (`POST /revoke`).
    static func sessionID(_ id: String, profile: String?, at: Int, until: Int) -> FleetRevocation {
        FleetRevocation(kind: .session, key: ShortDigest(id).hex, profile: profile, at: at, until: until)
    }

    /// Every session of a provider session or subject logged in at or before `at` (ms).
    static func provider(_ kind: Kind, _ value: String, profile: String?, at: Int, until: Int) -> FleetRevocation {
        FleetRevocation(kind: kind, key: ShortDigest(kind.rawValue + ":" + value).hex, profile: profile, at: at, until: until)
    }

    /// A bearer token, hashed here: the token never leaves the process.
    static func token(_ token: String, at: Int, until: Int) -> FleetRevocation {
        FleetRevocation(kind: .token, key: TokenCacheKey(token: token).hex, profile: nil, at: at, until: until)
    }

    /// Whether the key has the length and digits its kind needs (a row from the store is
    /// input like any other).
    var isWellFormed: Bool {
        let length = kind == .token ? 64 : 32
        return key.utf8.count == length && key.utf8.allSatisfy { hexDigitValue($0) != nil }
    }
}

extension ShortDigest {
    /// Hex of the two words, 32 digits.
    var hex: String { DigestHex.encode([first, second]) }

    init?(hex: String) {
        guard let words = DigestHex.decode(hex, words: 2) else { return nil }
        self.init(first: words[0], second: words[1])
    }
}

extension TokenCacheKey {
    /// Hex of the four words, 64 digits.
    var hex: String { DigestHex.encode([first, second, third, fourth]) }

    init?(hex: String) {
        guard let words = DigestHex.decode(hex, words: 4) else { return nil }
        self.init(first: words[0], second: words[1], third: words[2], fourth: words[3])
    }
}

/// Digest words as fixed-width hex, 16 digits a word.
enum DigestHex {
    static func encode(_ words: [UInt64]) -> String {
        words.map { word in
            let digits = String(word, radix: 16)
            return String(repeating: "0", count: 16 - digits.utf8.count) + digits
        }.joined()
    }

    static func decode(_ text: String, words count: Int) -> [UInt64]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == count * 16 else { return nil }
        var words: [UInt64] = []
        for index in 0..<count {
            var word: UInt64 = 0
            for byte in utf8[(index * 16)..<(index * 16 + 16)] {
                guard let digit = hexDigitValue(byte) else { return nil }
                word = word << 4 | UInt64(digit)
            }
            words.append(word)
        }
        return words
    }
}
