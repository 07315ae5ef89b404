import Testing
@testable import TokenGate

@Suite("The fleet's parts without a store: the store URL, POST /revoke bodies, the revoked-token snapshot, applying another replica's rows")
struct FleetUnitTests {
    @Test("a store URL: user, percent-encoded password, host, port, database; cleartext on loopback, verified TLS elsewhere; errors never echo the URL")
    func storeURL() throws {
        let local = try StoreURL.parse("postgres://gate:p%40ss%2Bword@127.0.0.1:6543/fleet").get()
        #expect(local == StoreURL(user: "gate", password: "p@ss+word", host: "127.0.0.1", port: 6543, database: "fleet", tls: .disable))
        let remote = try StoreURL.parse("postgresql://gate:secret@db.internal/fleet").get()
        #expect(remote.port == 5432 && remote.tls == .verifyFull, "off loopback: TLS, verified")
        #expect(try StoreURL.parse("postgres://gate@[::1]:5433").get().database == "gate", "the database defaults to the user")
        #expect(try StoreURL.parse("postgres://gate:x@db.internal/f?sslmode=require").get().tls == .require)
        for bad in ["mysql://gate:secret-pw@h/d", "postgres://h/d", "postgres://gate:secret-pw@h:0/d", "postgres://gate:secret-pw@h:99999/d",
                    "postgres://gate:secret-pw@/d", "postgres://gate:secret-pw@h/d?sslmode=maybe", "postgres://gate:%zz@h/d"] {
            guard case .failure(let error) = StoreURL.parse(bad) else {
                Issue.record("accepted \(bad)")
                continue
            }
            #expect(!error.description.contains("secret-pw"), "\(error)")
        }
    }

    @Test("a revoke body names exactly one thing; keys, types and ranges are checked; a token's keep comes from expires_in, else its JWT exp")
    func revokeBodies() throws {
        let sub = try RevokeRequest.parse(Array(#"{"sub": "alice", "profile": "portal"}"#.utf8)).get()
        #expect(sub.kind == .sub && sub.value == "alice" && sub.profile == "portal")
        let revocation = sub.revocation(now: 1_000, nowMilliseconds: 1_000_000, sessionLifetime: 3600)
        #expect(revocation == .provider(.sub, "alice", profile: "portal", at: 1_000_000, until: 4_600))
        #expect(revocation.isWellFormed && !revocation.key.contains("alice"))
        let token = try RevokeRequest.parse(Array(#"{"token": "abc.def", "expires_in": 60}"#.utf8)).get()
        let tokenRevocation = token.revocation(now: 1_000, nowMilliseconds: 1_000_000, sessionLifetime: 3600)
        #expect(tokenRevocation.until == 1_060 && tokenRevocation.key == TokenCacheKey(token: "abc.def").hex && tokenRevocation.isWellFormed)
        let plain = try RevokeRequest.parse(Array(#"{"token": "opaque-token-value"}"#.utf8)).get()
        #expect(plain.revocation(now: 1_000, nowMilliseconds: 0, sessionLifetime: 1).until == 1_000 + Gateway.defaultRevocationLifetime)
        for (body, problem) in [
            (#"{}"#, "exactly one"), (#"{"sub": "a", "sid": "b"}"#, "exactly one"), (#"{"sub": ""}"#, "non-empty"),
            (#"{"sub": "a", "color": "red"}"#, "unknown key"), (#"{"sub": "a", "expires_in": 5}"#, "tokens only"),
            (#"{"token": "t", "expires_in": 0.5}"#, "whole number"), (#"{"token": "t", "profile": "p"}"#, "not to tokens"),
            (#"["sub"]"#, "JSON object"), ("not json", "not JSON"),
        ] {
            guard case .failure(let error) = RevokeRequest.parse(Array(body.utf8)) else {
                Issue.record("accepted \(body)")
                continue
            }
            #expect(error.description.contains(problem), "\(body): \(error)")
        }
        #expect(throws: RevokeRequestError.self) { try RevokeRequest.parse(Array(repeating: 0x20, count: RevokeRequest.maxBytes + 1)).get() }
    }

    @Test("the revoked-token snapshot: empty costs one load; an entry holds until its time; a full list refuses and keeps what it has")
    func tokenSnapshot() {
        let revoked = TokenRevocations(capacity: 2)
        let first = TokenCacheKey(token: "first")
        #expect(!revoked.holdsAny)
        #expect(revoked.insert(first, until: 100, now: 0))
        #expect(revoked.holdsAny && revoked.contains(first, now: 99))
        #expect(!revoked.contains(TokenCacheKey(token: "other"), now: 0))
        #expect(revoked.insert(TokenCacheKey(token: "second"), until: 200, now: 0))
        #expect(!revoked.insert(TokenCacheKey(token: "third"), until: 200, now: 0), "full: refused")
        #expect(revoked.contains(first, now: 50), "and nothing forgotten")
        #expect(!revoked.contains(first, now: 100), "over at its time")
        #expect(revoked.inForce == 1, "and gone: the lookup swept it")
        #expect(revoked.insert(TokenCacheKey(token: "third"), until: 300, now: 150), "an entry past its time gave its place")
        #expect(!revoked.contains(first, now: 400) && !revoked.holdsAny, "the last lookup after every time is over leaves it empty: one load again")
        #expect(TokenCacheKey(hex: first.hex) == first && ShortDigest(hex: ShortDigest("x").hex) == ShortDigest("x"))
        #expect(TokenCacheKey(hex: "zz") == nil && ShortDigest(hex: String(repeating: "g", count: 32)) == nil)
    }

    @Test("another replica's rows end the sessions they name; a row read again never moves a later back-channel logout back")
    func applyingRows() throws {
        let profile = try LoginRevocationTests.profile(revocationCapacity: 100)
        let now = WallClock.secondsSinceEpoch()
        let milliseconds = WallClock.millisecondsSinceEpoch()
        let ended = LoginRevocationTests.session("carol", now: now, loginAt: milliseconds - 5_000)
        let cookies = try LoginRevocationTests.jar(profile.sessionCookies(ended, present: [], now: now))
        profile.apply([FleetRevocation.session(ended, profile: "someone-else", now: now)], now: now)
        #expect(profile.session(in: cookies, now: now) != nil, "a row for another profile changes nothing")
        profile.apply([FleetRevocation.session(ended, profile: "portal", now: now)], now: now)
        #expect(profile.session(in: cookies, now: now) == nil)

        let dave = LoginRevocationTests.session("dave", now: now, loginAt: milliseconds - 2_000)
        let daveCookies = try LoginRevocationTests.jar(profile.sessionCookies(dave, present: [], now: now))
        profile.apply([.provider(.sub, "dave", profile: nil, at: milliseconds, until: now + 600)], now: now)
        #expect(profile.session(in: daveCookies, now: now) == nil, "by sub, for every profile")
        profile.apply([.provider(.sub, "dave", profile: nil, at: milliseconds - 10_000, until: now + 600)], now: now)
        #expect(profile.session(in: daveCookies, now: now) == nil, "an older row read again does not bring it back")
        var malformed = FleetRevocation.provider(.sid, "s", profile: nil, at: 0, until: now + 60)
        malformed.key = "not-hex"
        #expect(!malformed.isWellFormed)
    }

    @Test("store settings are checked: a shared credential needs a store and seal keys; the store URL secret must resolve; ranges hold; each error names its path")
    func storeConfiguration() {
        func errors(_ store: String, shared: Bool = true, environment: [String: String] = ["URL": "postgres://g:pw@127.0.0.1/d", "K": "0123456789abcdef0123456789abcdef"]) -> [String] {
            let json = """
            { "listeners": { "main": { "address": "127.0.0.1:8080" } }\(store),
              "credentials": { "billing": { "grant": "client_credentials", "token_url": "https://idp.example.com/token", "client_id": "c",
                                            "client_secret": "s", "shared": \(shared) } },
              "routes": [ { "name": "a", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:3000", "credential": "billing" } ] }
            """
            guard case .failure(let error) = loadConfig(json, environment: environment) else { return [] }
            return error.issues.filter { $0.severity == .error }.map(\.description)
        }
        #expect(errors("").contains { $0.hasPrefix("credentials.billing.shared: a shared credential needs a store section") })
        #expect(errors(#", "store": { "postgres": { "url": { "env": "URL" } } }"#).contains { $0.contains("add store.seal_keys") })
        #expect(errors(#", "store": { "postgres": { "url": { "env": "URL" } }, "seal_keys": [ { "id": "s1", "secret": { "env": "K" } } ] }"#).isEmpty)
        #expect(errors(#", "store": { "postgres": { "url": { "env": "MISSING" } } }"#, shared: false).contains { $0.hasPrefix("store.postgres.url:") })
        #expect(errors(#", "store": { "postgres": { "url": { "env": "URL" }, "max_connections": 1 } }"#, shared: false).contains { $0.hasPrefix("store.postgres.max_connections:") })
        #expect(errors(#", "store": { "seal_keys": [] }"#, shared: false).contains { $0.hasPrefix("store.postgres:") || $0.hasPrefix("store:") })
    }
}
