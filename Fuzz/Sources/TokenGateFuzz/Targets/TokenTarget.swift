@testable import TokenGate

/// Token endpoint answers (RFC 6749 §5.1, §5.2): `TokenResponseParser.parse`, as the
/// token client calls it for credential profiles and login code exchanges. An input that
/// starts with a digit has a first line `STATUS [RETRY-AFTER]` and the body after it;
/// any other input is the body of a 200.
///
/// Invariants: a token is issued only from a 200, non-empty, a b64token of at most
/// `maxTokenBytes`, of type Bearer, with a lifetime in `lifetimeRange` and an ID token of
/// at most `maxTokenBytes`; every failure's kind fits the status; an OAuth error code is a
/// short printable ASCII token; a Retry-After is never negative.
enum TokenTarget {
    static func run(_ bytes: [UInt8]) {
        var status = 200
        var retryAfter: String?
        var body = bytes
        if let first = bytes.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") {
            let end = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            let line = String(decoding: bytes[..<end], as: UTF8.self)
            let words = line.split(separator: " ", maxSplits: 1)
            status = words.first.map { Int($0.prefix(3)) ?? 0 } ?? 200
            retryAfter = words.count > 1 ? String(words[1]) : nil
            body = end < bytes.endIndex ? Array(bytes[(end + 1)...]) : []
        }
        _ = TokenResponseParser.oauthErrorCode(body)
        switch TokenResponseParser.parse(status: status, retryAfter: retryAfter, body: body) {
        case .success(let issued):
            let token = issued.accessToken.revealed
            invariant(status == 200, "a token was issued from a \(status)")
            invariant(!token.isEmpty && token.utf8.count <= TokenResponseParser.maxTokenBytes && BearerCredential.isB64Token(token),
                      "an issued access token cannot go in a header")
            invariant(issued.tokenType.lowercased() == "bearer", "an issued token is not a Bearer token")
            invariant(issued.expiresIn.map(TokenResponseParser.lifetimeRange.contains) ?? true, "an issued token's lifetime is out of range")
            invariant(issued.idToken.map { $0.revealed.utf8.count <= TokenResponseParser.maxTokenBytes } ?? true, "an issued ID token is too long")
            invariant(issued.refreshToken.map { !$0.revealed.isEmpty } ?? true, "an empty refresh token was kept")
        case .failure(let error):
            switch error.kind {
            case .malformedResponse, .unsupportedTokenType: invariant(status == 200, "a \(status) was read as a bad token answer")
            case .rateLimited: invariant(status == 429, "a \(status) was read as rate limiting")
            case .serverError(let code): invariant(code == status && (500...599).contains(status), "a \(status) was read as a server error")
            case .oauth(let code, let answered):
                invariant(answered == status && (400...499).contains(status) && status != 429, "a \(status) was read as an OAuth error")
                invariant(!code.isEmpty && code.count <= 64 && code.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0 != "\"" && $0 != "\\" },
                          "an OAuth error code is not a short printable token")
            case .unexpectedStatus(let code): invariant(code == status && status != 200, "a 200 was read as an unexpected status")
            case .network, .timeout, .secretUnavailable: invariant(false, "a parsed answer was read as a transport or secret failure")
            }
            invariant(error.retryAfter.map { $0 >= .zero } ?? true, "a negative Retry-After")
            _ = error.publicDetail
            _ = error.isPermanent
            _ = error.isRefusal
        }
    }
}
