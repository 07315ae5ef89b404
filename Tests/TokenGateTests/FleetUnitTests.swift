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

    @Test("off loopback only a verified TLS connection is taken (verify-full, or require with a ca_file), unless insecure_transport says the network is trusted; the refusal names the fix and never the URL")
    func storeTransport() throws {
        var config = StoreConfig(url: .environment("URL"), caFile: nil, maxConnections: 4, sealKeys: [], revocationPoll: .seconds(5), requiredForReadiness: false)
        func refusal(_ url: String) throws -> String? { FleetStore.transportRefusal(try StoreURL.parse(url).get(), config) }
        #expect(try refusal("postgres://g:secret-pw@127.0.0.1/d") == nil, "cleartext on loopback")
        #expect(try refusal("postgres://g:secret-pw@localhost/d?sslmode=disable") == nil)
        #expect(try refusal("postgres://g:secret-pw@db.internal/d") == nil, "verify-full is the default off loopback")
        let clear = try #require(try refusal("postgres://g:secret-pw@db.internal/d?sslmode=disable"))
        #expect(clear.contains("in clear") && clear.contains("verify-full") && clear.contains("insecure_transport") && !clear.contains("secret-pw"))
        let unverified = try #require(try refusal("postgres://g:secret-pw@10.0.0.5/d?sslmode=require"))
        #expect(unverified.contains("unverified"))
        config.caFile = "/etc/ssl/store-ca.pem"
        #expect(try refusal("postgres://g:secret-pw@10.0.0.5/d?sslmode=require") == nil, "require with a ca_file is verified")
        #expect(try refusal("postgres://g:secret-pw@10.0.0.5/d?sslmode=disable") != nil)
        config.insecureTransport = true
        #expect(try refusal("postgres://g:secret-pw@10.0.0.5/d?sslmode=disable") == nil, "the operator trusts this network")
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
        #expect(plain.revocation(now: 1_000, nowMilliseconds: 0, sessionLifetime: 1, knownExpiry: 1_600).until == 1_900,
                "an opaque token whose exp an introspection cache knows: kept until then, with the clock skew")
        #expect(plain.revocation(now: 1_000, nowMilliseconds: 0, sessionLifetime: 1, knownExpiry: 10).until == 1_060, "never less than a minute")
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

    @Test("shared login sessions need a store with seal keys; without seal keys, cookie sessions with a store are warned about")
    func sharedSessionConfiguration() {
        func issues(_ store: String, session: String) -> [ConfigIssue] {
            let json = """
            { "listeners": { "main": { "address": "127.0.0.1:8080" } }\(store),
              "login": { "portal": { "issuer": "https://idp.example.com", "client_id": "c", "client_secret": "s",
                                     "cookie_keys": [ { "id": "k1", "secret": { "env": "K" } } ], "session": { "store": "\(session)" } } },
              "routes": [ { "name": "a", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:3000", "login": "portal" } ] }
            """
            let environment = ["URL": "postgres://g:pw@127.0.0.1/d", "K": "0123456789abcdef0123456789abcdef"]
            switch loadConfig(json, environment: environment) {
            case .failure(let error): return error.issues
            case .success(let loaded): return loaded.warnings
            }
        }
        let sealed = #", "store": { "postgres": { "url": { "env": "URL" } }, "seal_keys": [ { "id": "s1", "secret": { "env": "K" } } ] }"#
        let unsealed = #", "store": { "postgres": { "url": { "env": "URL" } } }"#
        #expect(issues("", session: "shared").contains { $0.severity == .error && $0.description.hasPrefix("login.portal.session.store: shared sessions are kept in the fleet's store") })
        #expect(issues(unsealed, session: "shared").contains { $0.severity == .error && $0.description.contains("add store.seal_keys") })
        #expect(!issues(sealed, session: "shared").contains { $0.severity == .error })
        #expect(issues(unsealed, session: "cookie").contains { $0.severity == .warning && $0.description.contains("refreshed by each replica alone") })
        #expect(!issues(sealed, session: "cookie").contains { $0.description.contains("refreshed by each replica alone") })
    }
}

@Suite("Refresh single-flight across the fleet: what a replica does with the store's row of a session due for refresh")
struct StoredSessionRowTests {
    private static func session(refresh: String?, token: String = "at-0", expiresAt: Int? = 1_000) -> LoginSession {
        LoginSession(
            id: "s1", subject: "alice", providerSessionID: nil, loginAt: 0, seenAt: 0, expiresAt: 100_000, claims: [:],
            accessToken: token, accessTokenExpiresAt: expiresAt, refreshToken: refresh, idToken: nil
        )
    }

    private static func row(_ stored: LoginSession?, spent: [String] = [], ended: Bool = false, ago: Int? = 1) -> StoredSessionRow {
        StoredSessionRow(
            session: stored, version: 1, spent: spent.map(StoredSessionRow.spentDigest), ended: ended, refreshedAgo: ago, leasedByOther: false
        )
    }

    @Test("a cookie session: no row yet, or a row holding the presented refresh token, is refreshed with the presented session")
    func refreshesWhenNothingNewer() {
        let presented = Self.session(refresh: "R1")
        #expect(StoredSessionRow.decide(nil, presenting: presented, shared: false, grace: 30, wallNow: 990) == .refresh(presented))
        #expect(StoredSessionRow.decide(Self.row(Self.session(refresh: "R1", token: "x"), ago: nil), presenting: presented, shared: false, grace: 30, wallNow: 990)
            == .refresh(presented))
        // The session a refresh made seconds ago, presented again: kept while its token lives.
        let made = Self.session(refresh: "R1", token: "at-1", expiresAt: 1_020)
        #expect(StoredSessionRow.decide(Self.row(made, ago: 2), presenting: made, shared: true, grace: 30, wallNow: 990) == .adopt(made))
        #expect(StoredSessionRow.decide(Self.row(made, ago: 2), presenting: made, shared: true, grace: 30, wallNow: 1_020) == .refresh(made))
    }

    @Test("a cookie presenting a refresh token another replica spent adopts that replica's session within the grace, and never with an expired access token")
    func adoptsWithinGrace() {
        let presented = Self.session(refresh: "R1")
        let newer = Self.session(refresh: "R2", token: "at-1", expiresAt: 2_000)
        let fresh = Self.row(newer, spent: ["R1"], ago: 5)
        #expect(StoredSessionRow.decide(fresh, presenting: presented, shared: false, grace: 30, wallNow: 990) == .adopt(newer))
        // After the grace, the replaced token is spent again (the provider says whether it is over).
        #expect(StoredSessionRow.decide(Self.row(newer, spent: ["R1"], ago: 31), presenting: presented, shared: false, grace: 30, wallNow: 990)
            == .refresh(presented))
        // The winner's access token has expired meanwhile: its session is refreshed, with its own refresh token.
        #expect(StoredSessionRow.decide(fresh, presenting: presented, shared: false, grace: 30, wallNow: 2_000) == .refresh(newer))
        // A cookie the store does not know as replaced (refreshed while the store was down) keeps its own token.
        let unknown = Self.session(refresh: "R9")
        #expect(StoredSessionRow.decide(fresh, presenting: unknown, shared: false, grace: 30, wallNow: 990) == .refresh(unknown))
    }

    @Test("a refused refresh is over for whoever presents the token it spent; a shared session's row is the truth, and a missing one means it ended")
    func endedAndShared() {
        let presented = Self.session(refresh: "R1")
        #expect(StoredSessionRow.decide(Self.row(nil, spent: ["R1"], ended: true), presenting: presented, shared: false, grace: 30, wallNow: 990) == .ended)
        #expect(StoredSessionRow.decide(Self.row(nil, spent: ["R0"], ended: true), presenting: presented, shared: false, grace: 30, wallNow: 990)
            == .refresh(presented))
        let newer = Self.session(refresh: "R2", token: "at-1", expiresAt: 2_000)
        #expect(StoredSessionRow.decide(Self.row(newer, ago: 600), presenting: presented, shared: true, grace: 30, wallNow: 990) == .adopt(newer),
                "a replica's stale copy of a shared session takes the stored one, however old the refresh")
        #expect(StoredSessionRow.decide(Self.row(presented, ago: nil), presenting: presented, shared: true, grace: 30, wallNow: 990) == .refresh(presented))
        #expect(StoredSessionRow.decide(nil, presenting: presented, shared: true, grace: 30, wallNow: 990) == .ended)
    }

    @Test("the spent list keeps the newest eight digests and never a token")
    func spentList() {
        var row = Self.row(nil)
        for index in 0..<10 { row.spent = row.spending(Self.session(refresh: "R\(index)")) }
        #expect(row.spent.count == StoredSessionRow.maxSpent)
        #expect(row.spent.last == StoredSessionRow.spentDigest("R9") && !row.spent.contains(StoredSessionRow.spentDigest("R1")))
        #expect(!row.spent.contains { $0.contains("R9") })
    }
}
