import ExtrasBase64

/// A JWS in compact serialization (RFC 7515 §7.1), split and decoded but not verified:
/// enough to route it (its issuer), pick its key (`kid`, `alg`) and check its signature.
struct CompactJWT {
    var algorithm: String
    var keyID: String?
    var type: String?
    /// The payload's members.
    var claims: [(key: String, value: JSONValue)]
    /// `BASE64URL(header) '.' BASE64URL(payload)`, what the signature covers.
    var signingInput: ArraySlice<UInt8>
    var signature: [UInt8]

    /// `iss`, when it is a string.
    var issuer: String? {
        if case .string(let issuer)? = claims.first(where: { $0.key == "iss" })?.value { return issuer }
        return nil
    }

    /// Why a token is not a usable JWS. Safe to show.
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// Parses `token`. Refuses anything that is not three base64url parts with a JSON
    /// object header naming `alg`, and a header with `crit` (no extension is understood
    /// here, so RFC 7515 §4.1.11 requires refusing it).
    static func parse(_ token: String) -> Result<CompactJWT, Malformed> {
        let bytes = Array(token.utf8)
        guard let firstDot = bytes.firstIndex(of: UInt8(ascii: ".")),
              let secondDot = bytes[(firstDot + 1)...].firstIndex(of: UInt8(ascii: ".")),
              !bytes[(secondDot + 1)...].contains(UInt8(ascii: "."))
        else {
            return .failure(Malformed(description: "the token is not a JWT (three dot-separated parts)"))
        }
        let options: Base64.DecodingOptions = [.base64UrlAlphabet, .omitPaddingCharacter]
        guard let headerBytes = try? Base64.decode(bytes: bytes[..<firstDot], options: options),
              let payloadBytes = try? Base64.decode(bytes: bytes[(firstDot + 1)..<secondDot], options: options),
              let signature = try? Base64.decode(bytes: bytes[(secondDot + 1)...], options: options)
        else {
            return .failure(Malformed(description: "the token is not a JWT (a part is not base64url)"))
        }
        guard let header = try? JSONParser.parse(headerBytes), case .object(let headerFields) = header else {
            return .failure(Malformed(description: "the token's header is not a JSON object"))
        }
        guard let payload = try? JSONParser.parse(payloadBytes), case .object(let claims) = payload else {
            return .failure(Malformed(description: "the token's payload is not a JSON object (an encrypted or nested JWT is not accepted)"))
        }
        func text(_ name: String) -> String?? {
            guard let value = headerFields.first(where: { $0.key == name })?.value else { return .some(nil) }
            if case .string(let text) = value { return .some(text) }
            return nil
        }
        guard case .some(let algorithm?) = text("alg") else {
            return .failure(Malformed(description: "the token's header has no algorithm (alg)"))
        }
        guard case .some(let keyID) = text("kid"), case .some(let type) = text("typ") else {
            return .failure(Malformed(description: "the token's header has a kid or typ that is not a string"))
        }
        if headerFields.contains(where: { $0.key == "crit" }) {
            return .failure(Malformed(description: "the token's header has critical extensions (crit) this gateway does not understand"))
        }
        return .success(CompactJWT(
            algorithm: algorithm, keyID: keyID, type: type, claims: claims, signingInput: bytes[..<secondDot], signature: signature
        ))
    }
}
