import NIOCore

extension Admission {
    /// What admission waits for: a lookup the connection issues (to a profile, with a
    /// waiter that comes back on its event loop, or to itself for the request body), then
    /// resumes the admission with its `Outcome` of the same name.
    enum Lookup {
        /// The JWT profile checks a token from its issuer (signature, claims; at most one
        /// key set refetch for a new `kid`).
        case jwt(JWTProfile, CompactJWT, token: String, key: TokenCacheKey)
        /// The introspection profile asks the authorization server about a token.
        case introspection(IntrospectionProfile, token: String, key: TokenCacheKey)
        /// The credential profile has no usable token now: wait for the fetch under way.
        case credential(CredentialProfile)
        /// A login session's access token is due: refresh it (single-flight per session).
        case sessionRefresh(LoginProfile, LoginSession)
        /// The login provider's metadata (discovery) has not arrived: wait for its first fetch.
        case providerMetadata(LoginProfile)
        /// A login callback: exchange the code for tokens and start the session.
        case codeExchange(LoginProfile, LoginProfile.CodeExchange)
        /// The gateway answers this request itself and needs its body, at most `limit` bytes.
        case requestBody(limit: Int)
        /// Check a back-channel logout token and end the sessions it names.
        case backchannelLogout(LoginProfile, token: String)
        /// Read a shared session from the fleet's store (this replica has not lately).
        case sharedSession(LoginProfile, id: String)
    }

    /// What a lookup came to, delivered on the connection's event loop.
    enum Outcome: Sendable {
        case jwt(JWTProfile.Lookup)
        case introspection(IntrospectionProfile.Lookup)
        case credential(CredentialProfile.Lookup)
        case sessionRefresh(LoginProfile.RefreshResult)
        /// `waited`: the request waited for the first fetch to settle (false: it could not
        /// wait, the fetch had settled already or too many waited).
        case providerMetadata(waited: Bool)
        case codeExchange(LoginOutcome)
        /// The whole body (nil: there was none).
        case requestBody(ByteBuffer?)
        case backchannelLogout(LoginProfile.BackchannelOutcome)
        case sharedSession(FleetStore.SessionRead)
    }

    /// What a request whose shared session is being read goes on to.
    enum AfterSessionRead: Sendable {
        /// The session check, then the app.
        case admit
        /// The logout of the session.
        case logout
    }

    /// What admission is waiting for, and what it needs to go on once the outcome arrives.
    enum Pending {
        case nothing
        /// `leeway`: the JWT profile's clock skew.
        case jwt(leeway: Int)
        case introspection
        case credential
        /// `old`: the session being refreshed (it stands while its token lasts).
        case sessionRefresh(old: LoginSession)
        /// `returnTo`: where the login, once started, comes back to.
        case providerMetadata(returnTo: String)
        /// `clearState`: the deletion of the callback's state cookie.
        case codeExchange(clearState: (name: String, value: String))
        case requestBody
        case backchannelLogout
        /// `id`: the session being read; `then`: what the request was doing.
        case sharedSession(id: String, then: AfterSessionRead)
    }
}
