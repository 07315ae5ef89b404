import NIOConcurrencyHelpers
import Prometheus

/// Every metric the gateway exports: `tokengate_` names with units, and their help text.
/// (Computed: the descriptor type is not `Sendable`.)
enum MetricName {
    private static func tokengate(_ name: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "tokengate", metricName: name, unitName: unit, helpText: help)
    }

    static var requests: MetricNameDescriptor {
        tokengate("requests", unit: "total", "Requests answered, by listener, route (empty: no route matched), method and status class.")
    }
    static var requestDuration: MetricNameDescriptor {
        tokengate("request_duration", unit: "seconds", "Time from a request's head arriving to the end of its response, by route.")
    }
    static var upstreamDuration: MetricNameDescriptor {
        tokengate("upstream_duration", unit: "seconds", "Time from asking for an upstream connection to the end of the upstream's response, by route.")
    }
    static var upstreamErrors: MetricNameDescriptor {
        tokengate("upstream_errors", unit: "total", "Upstream failures by route and kind: connect (refused, unreachable), timeout (connect, response header, idle), reset (closed mid-exchange).")
    }
    static var droppedGatewayCookies: MetricNameDescriptor {
        tokengate("upstream_gateway_cookies_dropped", unit: "total", "Set-Cookie fields of upstream responses that named the gateway's own cookies (tg-, __Host-tg-, __Secure-tg-), dropped, by route.")
    }
    static var tokenRequests: MetricNameDescriptor {
        tokengate("token_requests", unit: "total", "Token endpoint requests by credential profile and outcome.")
    }
    static var forcedRefreshes: MetricNameDescriptor {
        tokengate("token_forced_refreshes", unit: "total", "Tokens dropped because an upstream answered 401 invalid_token, by profile.")
    }

    static var tokenRefreshFailures: MetricNameDescriptor {
        tokengate("token_refresh_failures", unit: "total", "Failed attempts to obtain or refresh a credential profile's token.")
    }
    static var tokenValid: MetricNameDescriptor {
        tokengate("token_valid", "1 when the credential profile holds a token that has not expired.")
    }
    static var tokenExpiresIn: MetricNameDescriptor {
        tokengate("token_expires_in", unit: "seconds", "Seconds until the credential profile's token expires (0 without a token).")
    }
    static var tokenBackoff: MetricNameDescriptor {
        tokengate("token_backoff", "1 while the credential profile waits to retry after a failed token request.")
    }
    static var tokenConsecutiveFailures: MetricNameDescriptor {
        tokengate("token_consecutive_failures", "Token requests failed in a row for the credential profile.")
    }
    static var introspectionRequests: MetricNameDescriptor {
        tokengate("introspection_requests", unit: "total", "Introspection endpoint calls by profile and outcome (active, inactive, error).")
    }
    static var cacheHits: MetricNameDescriptor {
        tokengate("introspection_cache_hits", unit: "total", "Tokens answered from the introspection cache.")
    }
    static var cacheMisses: MetricNameDescriptor {
        tokengate("introspection_cache_misses", unit: "total", "Tokens not in the introspection cache (a call was made or joined).")
    }
    static var cacheEvictions: MetricNameDescriptor {
        tokengate("introspection_cache_evictions", unit: "total", "Introspection cache entries dropped to make room (least recently used first).")
    }
    static var cacheEntries: MetricNameDescriptor {
        tokengate("introspection_cache_entries", "Entries in the introspection profile's cache.")
    }
    static var jwtValidations: MetricNameDescriptor {
        tokengate("jwt_validations", unit: "total", "JWTs checked in full (signature and claims) by profile and outcome (valid, invalid, unknown_key, unavailable).")
    }
    static var jwtCacheHits: MetricNameDescriptor {
        tokengate("jwt_cache_hits", unit: "total", "JWTs answered from the verified-token cache, without a signature check.")
    }
    static var jwksFetches: MetricNameDescriptor {
        tokengate("jwks_fetches", unit: "total", "Key set fetches (with discovery when configured) by profile and outcome (success, error).")
    }
    static var jwksKeys: MetricNameDescriptor {
        tokengate("jwks_keys", "Keys of the JWT profile's key set in use (0 until one was fetched).")
    }
    static var loginsStarted: MetricNameDescriptor {
        tokengate("logins_started", unit: "total", "Browsers sent to the provider to log in, by login profile.")
    }
    static var loginsCompleted: MetricNameDescriptor {
        tokengate("logins_completed", unit: "total", "Login callbacks by profile and outcome (success, provider_error, state_invalid, exchange_failed, id_token_invalid).")
    }
    static var loginRefreshes: MetricNameDescriptor {
        tokengate("login_refreshes", unit: "total", "Session access-token refreshes by profile and outcome (success, refused, error).")
    }
    static var logouts: MetricNameDescriptor {
        tokengate("logouts", unit: "total", "Logouts by profile and kind (local, provider, backchannel).")
    }
    static var sharedTokensTaken: MetricNameDescriptor {
        tokengate("token_shared_taken", unit: "total", "Tokens of shared credential profiles taken from the fleet store instead of requested, by profile.")
    }
    static var storeUp: MetricNameDescriptor {
        tokengate("store_up", "1 while the fleet store answers (its last call succeeded), 0 while it does not.")
    }
    static var storeOperations: MetricNameDescriptor {
        tokengate("store_operations", unit: "total", "Calls to the fleet store by operation (health, poll, write, claim, expire) and outcome (ok, error; record dropped: the unwritten queue was full).")
    }
    static var storeLatency: MetricNameDescriptor {
        tokengate("store_latency", unit: "seconds", "Time a call to the fleet store took, by operation.")
    }
    static var storePendingRevocations: MetricNameDescriptor {
        tokengate("store_pending_revocations", "Revocations made here and not yet written to the fleet store (it is down or read-only).")
    }
    static var revokedTokens: MetricNameDescriptor {
        tokengate("revoked_tokens", "Bearer tokens revoked (here or by another replica) and still in force.")
    }
    static var storeRevocationsWritten: MetricNameDescriptor {
        tokengate("store_revocations_written", unit: "total", "Revocations made here and written to the fleet store.")
    }
    static var configReloads: MetricNameDescriptor {
        tokengate("config_reloads", unit: "total", "Configuration reloads (SIGHUP, file change, POST /reload) by outcome.")
    }
    static var configInfo: MetricNameDescriptor {
        tokengate("config_info", "The fingerprint of the configuration being served (value always 1).")
    }
    static var buildInfo: MetricNameDescriptor {
        tokengate("build_info", "The running TokenGate version (value always 1).")
    }
    static var openConnections: MetricNameDescriptor {
        tokengate("open_connections", "Open client connections (proxy and admin listeners).")
    }
    static var listenerConnections: MetricNameDescriptor {
        tokengate("listener_connections", "Open client connections by listener (`admin` for the admin listener).")
    }
    static var connectionsRefused: MetricNameDescriptor {
        tokengate("connections_refused", unit: "total", "Client connections closed as they were accepted because their listener had max_connections open.")
    }
    static var connectionsAccepted: MetricNameDescriptor {
        tokengate("connections_accepted", unit: "total", "Client connections served, by listener and protocol (`http/1.1` or `h2`, once TLS and ALPN or the h2c preface decided it).")
    }
    static var http2Streams: MetricNameDescriptor {
        tokengate("http2_streams", unit: "total", "HTTP/2 streams clients opened, by listener (each is one request).")
    }
    static var listenerCertificateExpiry: MetricNameDescriptor {
        tokengate("listener_certificate_expiry", unit: "timestamp_seconds", "When the certificate a TLS listener serves expires, in seconds since the Unix epoch, by listener.")
    }
    static var processStartTime: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "process", metricName: "start_time", unitName: "seconds", helpText: "Start time of the process since the Unix epoch in seconds.")
    }
    static var processResidentMemory: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "process", metricName: "resident_memory", unitName: "bytes", helpText: "Resident memory size in bytes.")
    }
}
