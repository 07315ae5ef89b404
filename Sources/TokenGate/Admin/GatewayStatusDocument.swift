import FoundationEssentials

/// `/status`: the admin listener's answer and what `tokengate status` reads, one model for
/// both, so the two cannot drift apart.
///
/// On the wire each key is its property's name in snake_case (`configVersion` is
/// `config_version`), in declaration order, and a nil optional is `null`, so every key is
/// always there (`CompactJSONEncoder`). It shows names, states and counts, never a token
/// or a secret: the token state it is built from has `Redacted` values, which it does not
/// read. `jwt` and `login` are optional only so that `tokengate status` can read a
/// gateway older than JWT validation and browser login; a gateway always writes both.
public struct GatewayStatusDocument: Codable, Sendable, Equatable {
    /// The gateway's version.
    public var version: String
    /// The version label (fingerprint) of the configuration being served.
    public var configVersion: String
    /// The configuration file; nil for a configuration that came from no file.
    public var configFile: String?
    /// When the gateway started, RFC 3339 UTC.
    public var startedAt: String
    /// The last reload; nil before the first.
    public var lastReload: Reload?
    public var openConnections: Int
    /// The running number of event-loop threads (a change to `workers` waits for a restart).
    public var workers: Int
    public var listeners: [Listener]
    public var routes: [Route]
    public var credentials: [Credential]
    public var introspection: [Introspection]
    public var jwt: [JWT]?
    public var login: [Login]?
    /// The fleet's store; nil without one (and from a gateway older than the store).
    public var store: Store?
    /// Bearer tokens revoked and in force (`POST /revoke`, or another replica's).
    public var revokedTokens: Int?

    /// The fleet's store as this replica sees it.
    public struct Store: Codable, Sendable, Equatable {
        /// Whether its last call succeeded.
        public var up: Bool
        /// The server accepts no writes (a standby): revocations wait for a primary.
        public var readOnly: Bool
        /// Why it is degraded, when it is.
        public var problem: String?
        /// Revocations made here and not yet written.
        public var pendingRevocations: Int
        /// When the last poll succeeded, RFC 3339 UTC.
        public var lastSyncAt: String?
        public var schemaVersion: Int?
        /// Whether `/readyz` fails while the store is unavailable.
        public var requiredForReadiness: Bool
    }

    /// What a reload did (also the answer of `POST /reload`).
    public struct Reload: Codable, Sendable, Equatable {
        public var trigger: String
        /// Seconds since the epoch.
        public var time: Int
        /// `ok` or `failed`.
        public var result: String
        /// The configuration version served after the attempt.
        public var version: String
        /// Every error, with its JSON path, when the reload was refused.
        public var errors: [String]
    }

    public struct Listener: Codable, Sendable, Equatable {
        public var name: String
        /// The bound address (port 0 resolved), printed like the configuration's (`[v6]:port`).
        public var address: String
        /// The protocols it takes: `http/1.1`, and `h2` by ALPN or (cleartext) prior knowledge.
        public var protocols: [String]?
        /// A TLS listener's serving certificate.
        public var tls: TLS?
    }

    public struct TLS: Codable, Sendable, Equatable {
        /// When the certificate served now expires (RFC 3339).
        public var certificateExpiresAt: String
        /// Why the certificate files' newest content is not served (the previous pair is).
        public var problem: String?
    }

    public struct Route: Codable, Sendable, Equatable {
        public var name: String
        public var listener: String
        public var pathPrefix: String
        public var host: String?
        public var upstream: String
        public var credential: String?
        public var introspection: String?
        public var jwt: String?
        public var login: String?
    }

    /// A credential profile and its token's state (never the token).
    public struct Credential: Codable, Sendable, Equatable {
        public var name: String
        public var grant: String
        public var tokenUrl: String
        public var hasToken: Bool
        public var expiresInSeconds: Int?
        public var refreshInSeconds: Int?
        public var scope: String?
        public var lastRefreshAt: String?
        public var refreshing: Bool
        public var consecutiveFailures: Int
        public var lastError: String?
        public var nextRetryInSeconds: Int?
    }

    /// An introspection profile's cache and calls.
    public struct Introspection: Codable, Sendable, Equatable {
        public var name: String
        public var url: String
        public var cacheEntries: Int
        public var cacheCapacity: Int
        public var inactiveEntries: Int
        public var inactiveCapacity: Int
        public var callsInFlight: Int
        public var maxInFlight: Int
        public var hits: Int
        public var misses: Int
        public var evictions: Int
        /// Hits over lookups, to three decimals; nil before the first lookup.
        public var hitRatio: Double?
    }

    /// A JWT profile's key set and cache.
    public struct JWT: Codable, Sendable, Equatable {
        public var name: String
        public var issuer: String
        public var jwksUri: String?
        public var keys: [Key]
        /// Keys of the set that were not taken, each with why.
        public var skippedKeys: [String]
        public var lastFetchAt: String?
        public var lastFetchSucceeded: Bool?
        public var lastFetchDetail: String?
        public var nextRefreshAt: String?
        public var cacheEntries: Int
        public var cacheCapacity: Int
        public var hits: Int
        public var misses: Int

        public struct Key: Codable, Sendable, Equatable {
            public var kid: String
            public var type: String
            public var algorithms: [String]
        }
    }

    /// A login profile: its cookie keys (ids only), session store and provider.
    public struct Login: Codable, Sendable, Equatable {
        public var name: String
        public var issuer: String
        public var clientId: String
        public var cookieKeyIds: [String]
        public var sealingKeyId: String?
        public var sessionStore: String
        /// Sessions held by the `memory` store; nil with the cookie store.
        public var sessionsInMemory: Int?
        public var authorizationEndpoint: String?
        public var endSessionEndpoint: String?
        /// Keys in the provider's key set (which checks ID tokens).
        public var providerKeys: Int
    }

    /// The document as `GET /status` answers it.
    var json: String {
        (try? CompactJSONEncoder.encode(self)) ?? "{}"
    }

    /// Reads a document as `GET /status` answers it.
    public static func decode(_ json: [UInt8]) throws -> GatewayStatusDocument {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(GatewayStatusDocument.self, from: Data(json))
    }
}

extension GatewayStatusDocument.Reload {
    init(_ outcome: ReloadOutcome) {
        self.init(
            trigger: outcome.trigger, time: outcome.time, result: outcome.succeeded ? "ok" : "failed", version: outcome.version,
            errors: outcome.errors
        )
    }
}
