#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JWTKit
@testable import TokenGate

/// Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.6). The input is
/// the token, or a form body holding `logout_token=` (read as the handler reads it).
///
/// 1. `LoginProfile.backchannelLogout`, the real entry point: parsing, issuer, `typ`,
///    `events`, no `nonce`, `iat`, then the signature check. The fixture's ID token
///    profile has no keys and is stopped, so that check refuses at once: the checks
///    before the signature run on every input, and nothing is ever ended.
/// 2. The checks after the signature, which are pure and run here on every parsed token
///    whatever its signature: the fixture's key set finds and runs the verifier, the ID
///    token claim checks (`JWTAccessTokenRules` with the login profile's JWT settings),
///    then `sid`/`sub` and `jti` as `backchannelLogout` reads them, the replay list
///    (`rememberLogoutToken`) and the provider logout (`endByProvider`), against the
///    profile and against a fresh `LoginRevocations`.
///
/// Invariants: without a verifiable signature no logout succeeds; a `jti` is new once;
/// after a logout by `sid` or `sub`, a session of it logged in at or before the logout is
/// ended and one logged in after it is not.
enum LogoutTarget {
    static func run(_ bytes: [UInt8]) {
        let body = String(decoding: bytes, as: UTF8.self)
        let token: String
        if body.hasPrefix("logout_token=") || body.contains("&") {
            guard let value = body.split(separator: "&").first(where: { $0.hasPrefix("logout_token=") })
                .flatMap({ FormEncoding.decode($0.dropFirst("logout_token=".count)) }) else { return }
            token = value
        } else {
            token = body
        }
        guard !token.isEmpty else { return }
        let profile = Fixture.shared.login
        let result = runBlocking { await profile.backchannelLogout(token) }
        switch result {
        case .success: invariant(false, "a logout token ended sessions without a signature the profile could check")
        case .failure(let refusal): invariant(!refusal.description.isEmpty, "a logout token was refused without a reason")
        }

        guard case .success(let jwt) = CompactJWT.parse(token), profile.idTokens.isFromIssuer(jwt) else { return }
        if case .found(let verifier) = Fixture.keys.idTokens.verifier(kid: jwt.keyID, algorithm: jwt.algorithm) {
            _ = try? verifier.verify(jwt.signature, signs: jwt.signingInput)
        }
        let now = Fixture.now
        guard case .success(let claims) = JWTAccessTokenRules(profile.idTokens.config).claims(of: jwt, now: now) else { return }
        let sid = claims.other["sid"]
        guard sid != nil || claims.subject != nil, let jti = claims.other["jti"], !jti.isEmpty else { return }
        let until = claims.expiresAt ?? 0
        _ = profile.rememberLogoutToken(jti, until: until, now: now)
        var revocations = LoginRevocations(capacity: 8)
        invariant(revocations.rememberLogoutToken(jti, until: until, now: now), "a new logout token id is taken as used")
        invariant(!revocations.rememberLogoutToken(jti, until: until, now: now), "a logout token id is new twice")

        let at = now * 1000
        let subject = sid == nil ? claims.subject : nil
        profile.endByProvider(sid: sid, subject: subject, at: at, now: now)
        revocations.endByProvider(sid: sid, subject: subject, at: at, until: now + 3600, now: now)
        func session(loginAt: Int) -> LoginSession {
            LoginSession(
                id: "fuzz-session", subject: subject ?? "someone-else", providerSessionID: sid, loginAt: loginAt, seenAt: now,
                expiresAt: now + 3600, claims: [:], accessToken: nil, accessTokenExpiresAt: nil, refreshToken: nil, idToken: nil
            )
        }
        invariant(revocations.isEnded(session(loginAt: at), now: now), "a session the logout names, logged in before it, is not ended")
        invariant(!revocations.isEnded(session(loginAt: at + 1), now: now), "a session logged in after the logout is ended")
    }
}
