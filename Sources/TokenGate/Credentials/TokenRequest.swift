/// The exact token request a profile sends (RFC 6749 §4.4, §4.3, §6), built as a value so
/// its wire form can be checked field by field without a network.
enum TokenRequest {
    enum Kind: Equatable {
        case clientCredentials
        case password
        case refresh
    }

    /// Builds the request for `kind`. Secrets come in already resolved; nothing here logs.
    static func make(
        _ kind: Kind, profile: CredentialProfileConfig, clientSecret: Redacted, password: Redacted?, refreshToken: Redacted?
    ) -> FormPost {
        var form: [(String, String)] = []
        switch kind {
        case .clientCredentials:
            form.append(("grant_type", "client_credentials"))
        case .password:
            form.append(("grant_type", "password"))
            form.append(("username", profile.username ?? ""))
            form.append(("password", password?.revealed ?? ""))
        case .refresh:
            form.append(("grant_type", "refresh_token"))
            form.append(("refresh_token", refreshToken?.revealed ?? ""))
        }
        if let scope = profile.scope { form.append(("scope", scope)) }
        if let audience = profile.audience { form.append(("audience", audience)) }
        if let resource = profile.resource { form.append(("resource", resource)) }
        for name in profile.extraParameters.keys.sorted() {
            form.append((name, profile.extraParameters[name] ?? ""))
        }
        return FormPost(url: profile.tokenURL, form: form, clientID: profile.clientID, secret: clientSecret, method: profile.authMethod)
    }
}
