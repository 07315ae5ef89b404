/// `store`: the PostgreSQL database a fleet of gateways shares (revocations, logout
/// tokens). Optional: without it each gateway knows only what it saw itself, exactly as
/// before. Changing it takes a restart; a reload keeps the running store and says so.
struct StoreConfig: Sendable, Equatable {
    /// `postgres.url`: a secret reference to `postgres://user:password@host:port/database`
    /// (with `?sslmode=disable|require|verify-full`); required.
    var url: SecretReference
    /// `postgres.ca_file`: the PEM bundle that verifies the server's certificate. Off
    /// loopback, TLS with verification is the default (`verify-full`).
    var caFile: String?
    /// `postgres.max_connections`: the most connections this gateway opens, one of which
    /// LISTENs while the store is up. Default 4, from 2 to 32.
    var maxConnections: Int
    /// `seal_keys`: the keys that seal what the store holds, the first seals, all open (as
    /// `cookie_keys`). Revocations hold only digests, so they are optional for now.
    var sealKeys: [LoginProfileConfig.CookieKey]
    /// `revocation_poll_seconds`: how often a gateway asks the store for revocations it
    /// may have missed (a lost notification, a reconnect). Default 5.
    var revocationPoll: Duration
    /// `required_for_readiness`: whether `/readyz` answers 503 while the store is
    /// unavailable. Default false: the gateway serves on, keeping what it knows.
    var requiredForReadiness: Bool
    /// `postgres.insecure_transport`: allows `sslmode=disable` or `require` (no verified
    /// certificate) to a server off loopback, for a private network the operator trusts.
    /// Default false: such a URL is refused at start, since the store's password and
    /// sealed rows would cross the network unprotected or to an unverified peer.
    var insecureTransport = false

    static let keys = ["postgres", "seal_keys", "revocation_poll_seconds", "required_for_readiness"]
    static let postgresKeys = ["url", "ca_file", "max_connections", "insecure_transport"]
    static let defaultPoll: Duration = .seconds(5)
}
