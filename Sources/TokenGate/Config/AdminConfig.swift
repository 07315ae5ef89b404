import NIOCore

/// `admin`: the admin listener.
public struct AdminConfig: Sendable, Equatable {
    /// `address`: default `127.0.0.1:9901`.
    public var address: BindAddress

    static let defaultAddress = BindAddress(host: "127.0.0.1", port: 9901)
}
