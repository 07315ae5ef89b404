#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
/// The rules for a host that is written as an address rather than a name.
enum HostLiteral {
    /// Why `host` cannot be used, if it cannot. A host whose last label is a number
    /// (`999.0.0.1`, `1.2.3`, `0x7f.1`, `2130706433`: WHATWG URL's "ends in a number") is an
    /// IPv4 address, never a name, and must be a valid dotted quad (four decimal numbers
    /// from 0 to 255): taken as a name, `999.0.0.1` fails only when it is resolved, and the
    /// resolver reads shorthand like `127.1` or `0x7f.1` as an address the loopback and
    /// trusted-proxy checks do not recognise. In brackets only an IPv6 address is allowed.
    static func problem(_ host: Substring, bracketed: Bool) -> AddressError? {
        if bracketed {
            guard host.contains(":"), IPAddress(String(host)) != nil else { return AddressError("only an IPv6 address goes in brackets") }
            return nil
        }
        var labels = host.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count > 1, labels.last?.isEmpty == true { labels.removeLast() }
        guard let last = labels.last, isNumber(last) else { return nil }
        guard let address = IPAddress(String(host)), address.isV4 else {
            return AddressError("a host of numbers must be an IPv4 address written as four decimal numbers from 0 to 255, like 127.0.0.1")
        }
        return nil
    }

    /// A decimal number, or `0x` and hexadecimal digits (`0x` alone is 0).
    private static func isNumber(_ label: Substring) -> Bool {
        let lower = label.lowercased()
        if lower.hasPrefix("0x") { return lower.dropFirst(2).allSatisfy { $0.isASCII && $0.isHexDigit } }
        return !label.isEmpty && label.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
