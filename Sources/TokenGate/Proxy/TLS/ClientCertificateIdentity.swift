import Crypto
import NIOCore
import NIOSSL
import X509

/// What a verified client certificate says about the client, as the identity headers
/// the upstream receives (`X-Client-Cert-Subject`, `X-Client-Cert-SAN`,
/// `X-Client-Cert-SHA256`). Read once per connection, after the handshake.
///
/// Byte-exact: the subject is RFC 4514's string (`CN=alice,O=Example`, with its escapes),
/// the names are `DNS:…`, `email:…`, `URI:…`, `IP:…` joined by `, `; a control byte (a
/// NUL that would truncate a C string, CR, LF) is written `\XX` and never dropped, and a
/// `,` or `\` inside a name is escaped likewise, so two different certificates never give
/// the same headers.
///
/// A class: each connection of a listener that asks for certificates holds one, and every
/// connection holds the reference (one word where three strings were).
final class ClientCertificateIdentity: Sendable, Equatable {
    static let subjectHeader = "X-Client-Cert-Subject"
    static let namesHeader = "X-Client-Cert-SAN"
    static let fingerprintHeader = "X-Client-Cert-SHA256"
    /// Always stripped from clients (as the other identity headers are).
    static let headerNames = [subjectHeader, namesHeader, fingerprintHeader]

    let subject: String
    let subjectAlternativeNames: String
    /// SHA-256 of the certificate's DER, lower-case hex (RFC 8705's `x5t#S256` input).
    let fingerprint: String

    init(subject: String, subjectAlternativeNames: String, fingerprint: String) {
        self.subject = subject
        self.subjectAlternativeNames = subjectAlternativeNames
        self.fingerprint = fingerprint
    }

    static func == (lhs: ClientCertificateIdentity, rhs: ClientCertificateIdentity) -> Bool {
        lhs.subject == rhs.subject && lhs.subjectAlternativeNames == rhs.subjectAlternativeNames && lhs.fingerprint == rhs.fingerprint
    }

    /// The identity of the client certificate the TLS handler of `channel` verified, if any.
    static func verified(on channel: any Channel) -> ClientCertificateIdentity? {
        guard let handler = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
              let certificate = handler.peerCertificate,
              let der = try? certificate.toDERBytes() else { return nil }
        return of(der: der)
    }

    static func of(der: [UInt8]) -> ClientCertificateIdentity? {
        guard let certificate = try? Certificate(derEncoded: der) else { return nil }
        var names: [String] = []
        if let alternatives = try? certificate.extensions.subjectAlternativeNames {
            for name in alternatives {
                switch name {
                case .dnsName(let value): names.append("DNS:" + escapedName(value))
                case .rfc822Name(let value): names.append("email:" + escapedName(value))
                case .uniformResourceIdentifier(let value): names.append("URI:" + escapedName(value))
                case .ipAddress(let octets): names.append("IP:" + ipText(Array(octets.bytes)))
                default: continue
                }
            }
        }
        let digest = SHA256.hash(data: der)
        return ClientCertificateIdentity(
            subject: escapedControls(String(describing: certificate.subject)),
            subjectAlternativeNames: names.joined(separator: ", "),
            fingerprint: digest.map { byte in String(byte, radix: 16).count == 1 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }.joined()
        )
    }

    /// Control bytes as RFC 4514 `\XX` pairs.
    static func escapedControls(_ text: String) -> String {
        escaped(text) { $0 < 0x20 || $0 == 0x7F }
    }

    /// A name inside the list: controls, `,` and `\` as `\XX`.
    static func escapedName(_ text: String) -> String {
        escaped(text) { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\\") }
    }

    private static func escaped(_ text: String, when needsEscape: (UInt8) -> Bool) -> String {
        guard text.utf8.contains(where: needsEscape) else { return text }
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            if needsEscape(byte) {
                bytes += [UInt8(ascii: "\\"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func ipText(_ octets: [UInt8]) -> String {
        if octets.count == 4 { return octets.map(String.init).joined(separator: ".") }
        if octets.count == 16 {
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(octets[$0]) << 8 | UInt16(octets[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
        return octets.map { String($0, radix: 16) }.joined()
    }
}
