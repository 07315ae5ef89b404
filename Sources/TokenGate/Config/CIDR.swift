#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or one address.
struct CIDR: Sendable, Hashable, CustomStringConvertible {
    var network: IPAddress
    var prefixLength: Int

    static func parse(_ text: String) -> Result<CIDR, AddressError> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else {
            return .failure(.init("\"\(text)\" is not an IP address or CIDR"))
        }
        let maxLength = Int(address.count) * 8
        var length = maxLength
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...maxLength).contains(parsed) else {
                return .failure(.init("prefix length must be from 0 to \(maxLength)"))
            }
            length = parsed
        }
        return .success(CIDR(network: address, prefixLength: length))
    }

    func contains(_ address: IPAddress) -> Bool {
        address.sharesPrefix(prefixLength, with: network)
    }

    var description: String { "\(network)/\(prefixLength)" }
}
