/// Decoding of the top-level `jwt` profiles.
extension GatewayConfigDecoder {
    static let jwtKeys = [
        "issuer", "jwks_uri", "algorithms", "audience", "allow_any_audience", "clock_skew_seconds", "types", "hmac_secret",
        "ca_file", "timeout_seconds", "allow_insecure_http", "cache", "jwks",
    ]
    static let jwksKeys = ["refresh_seconds", "min_refresh_seconds", "max_refresh_seconds", "unknown_kid_interval_seconds", "startup_wait_seconds"]

    func decodeJWT(name: String, _ value: JSONValue, at path: ConfigPath) -> JWTProfileConfig? {
        guard let block = diagnostics.object(value, at: path, keys: Self.jwtKeys) else { return nil }
        let issuer = block.string("issuer", required: true)
        if let issuer, case .failure(let problem) = UpstreamURL.parse(issuer) {
            diagnostics.error(path.key("issuer"), "\(problem) (the issuer identifier is an https URL)")
        }
        let jwksURL = block.contains("jwks_uri") ? url(block, "jwks_uri") : nil
        let hmacSecret = block.secret("hmac_secret")
        let algorithms = decodeAlgorithms(block, hmac: hmacSecret != nil)
        var audiences: [String] = []
        switch block["audience"] {
        case .string?: audiences = block.string("audience").map { [$0] } ?? []  // "" is reported as empty
        case .array(let elements)?:
            audiences = block.stringArray("audience") ?? []
            // `[]` would refuse every token without a word from `check` (or, beside
            // `allow_any_audience`, say nothing at all): it is a mistake, never a setting.
            if elements.isEmpty {
                diagnostics.error(path.key("audience"), "list at least one audience: an empty list accepts no token (to accept tokens for every service of the issuer, leave it out and set \"allow_any_audience\": true)")
            }
        case let other?: diagnostics.error(path.key("audience"), "expected a string or an array of strings, got \(other.typeName)")
        case nil: break
        }
        let allowAnyAudience = block.bool("allow_any_audience", default: false)
        if audiences.isEmpty && !allowAnyAudience && !block.contains("audience") {
            diagnostics.error(path.key("audience"), "required: the audience this gateway's tokens are issued for (or set \"allow_any_audience\": true to accept tokens for every service of the issuer)")
        }
        let types = block.stringArray("types") ?? JWTProfileConfig.defaultTypes
        if block.contains("types") && types.isEmpty {
            diagnostics.error(path.key("types"), "list at least one accepted typ (RFC 9068 access tokens are \"at+jwt\")")
        }
        var maxEntries = 10_000
        if let cache = block.object("cache", keys: ["max_entries"]) {
            maxEntries = cache.integer("max_entries", default: maxEntries, in: 1...10_000_000)
        }
        var refresh = Duration.seconds(300), minRefresh = Duration.seconds(60), maxRefresh = Duration.seconds(86_400)
        var unknownKid = Duration.seconds(10), startupWait = Duration.seconds(15)
        if let jwks = block.object("jwks", keys: Self.jwksKeys) {
            refresh = jwks.seconds("refresh_seconds", default: refresh, maximum: 604_800)
            minRefresh = jwks.seconds("min_refresh_seconds", default: minRefresh, maximum: 604_800)
            maxRefresh = jwks.seconds("max_refresh_seconds", default: maxRefresh, maximum: 604_800)
            unknownKid = jwks.seconds("unknown_kid_interval_seconds", default: unknownKid, maximum: 3600)
            startupWait = jwks.seconds("startup_wait_seconds", default: startupWait, maximum: 600)
            if minRefresh > maxRefresh {
                diagnostics.error(jwks.path.key("min_refresh_seconds"), "must not be greater than max_refresh_seconds")
            }
        }
        guard let issuer else { return nil }
        return JWTProfileConfig(
            name: name, issuer: issuer, jwksURL: jwksURL, algorithms: algorithms, audiences: audiences,
            allowAnyAudience: allowAnyAudience, clockSkew: block.integer("clock_skew_seconds", default: 60, in: 0...300),
            types: types, hmacSecret: hmacSecret, caFile: block.string("ca_file"),
            timeout: block.seconds("timeout_seconds", default: .seconds(5), maximum: 300),
            allowInsecureHTTP: block.bool("allow_insecure_http", default: false), maxEntries: maxEntries,
            refreshInterval: refresh, minRefresh: minRefresh, maxRefresh: maxRefresh, unknownKidInterval: unknownKid,
            startupWait: startupWait
        )
    }

    /// `algorithms`: known names only; never `none`; HMAC only with `hmac_secret`.
    private func decodeAlgorithms(_ block: ConfigObject, hmac: Bool) -> [String] {
        guard let listed = block.stringArray("algorithms") else {
            return JWTProfileConfig.asymmetricAlgorithms + (hmac ? JWTProfileConfig.hmacAlgorithms : [])
        }
        let known = JWTProfileConfig.asymmetricAlgorithms + JWTProfileConfig.hmacAlgorithms
        var accepted: [String] = []
        for (position, name) in listed.enumerated() {
            let at = block.path.key("algorithms").index(position)
            if name.caseInsensitiveEquals("none") {
                diagnostics.error(at, "\"none\" means an unsigned token: anyone could write one; it is never accepted")
            } else if !known.contains(name) {
                let near = suggestion(for: name, among: known)
                diagnostics.error(at, "unknown algorithm \"\(name)\"" + (near.map { ", did you mean \"\($0)\"?" } ?? " (supported: \(known.joined(separator: ", ")))"))
            } else if JWTProfileConfig.hmacAlgorithms.contains(name) && !hmac {
                diagnostics.error(at, "\(name) needs \"hmac_secret\": an HMAC key is a shared secret, never one of the issuer's published keys")
            } else {
                accepted.append(name)
            }
        }
        if listed.isEmpty { diagnostics.error(block.path.key("algorithms"), "list at least one algorithm") }
        return accepted
    }
}
