/// A configuration that decoded and validated cleanly, with what it was made from.
public struct LoadedConfig: Sendable {
    public var config: GatewayConfig
    /// Problems worth a word that do not stop the gateway (inline secrets, unused profiles).
    public var warnings: [ConfigIssue]
    /// A short fingerprint of the file's bytes, shown in `/status` and logs to tell versions apart.
    public var version: String
    /// The file it came from, if any.
    var source: String?
}
