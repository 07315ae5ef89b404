import ExtrasBase64

/// How a client proves itself to an authorization server endpoint (RFC 6749 §2.3.1):
/// HTTP Basic over the form-encoded id and secret, or both in the form body.
enum ClientAuthentication {
    static func apply(
        _ method: CredentialProfileConfig.AuthMethod, clientID: String, secret: Redacted,
        headers: inout [(name: String, value: String)], form: inout [(String, String)]
    ) {
        switch method {
        case .clientSecretBasic:
            let credentials = FormEncoding.escape(clientID) + ":" + FormEncoding.escape(secret.revealed)
            headers.append(("Authorization", "Basic " + Base64.encodeToString(bytes: Array(credentials.utf8))))
        case .clientSecretPost:
            form.append(("client_id", clientID))
            form.append(("client_secret", secret.revealed))
        }
    }
}
