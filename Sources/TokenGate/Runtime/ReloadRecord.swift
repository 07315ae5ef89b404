/// What the last reload did, for `/status` and for the caller of `POST /reload`.
public struct ReloadOutcome: Sendable {
    public var trigger: String
    /// Seconds since the epoch.
    public var time: Int
    public var succeeded: Bool
    /// The configuration version served after the attempt.
    public var version: String
    /// Every error, with its JSON path, when the reload was refused.
    public var errors: [String]

    /// The outcome as `/status` shows it and `POST /reload` answers (`GatewayStatusDocument.Reload`).
    var json: String {
        (try? CompactJSONEncoder.encode(GatewayStatusDocument.Reload(self))) ?? "{}"
    }
}
