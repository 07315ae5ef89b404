import NIOCore

extension IPAddress {
    /// A peer's address as NIO has it, read from its `sockaddr` (nil for a Unix socket):
    /// no text made and parsed again on every accepted connection.
    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            var raw = v4.address.sin_addr
            self = withUnsafeBytes(of: &raw) { IPAddress(networkOrder: $0) }
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            self = withUnsafeBytes(of: &raw) { IPAddress(networkOrder: $0) }
        case .unixDomainSocket:
            return nil
        }
    }
}
