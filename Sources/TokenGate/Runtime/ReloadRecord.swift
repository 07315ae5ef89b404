/// What the last reload did, for `/status` and for the caller of `POST /reload`.
struct ReloadOutcome: Sendable {
    var trigger: String
    /// Seconds since the epoch.
    var time: Int
    var succeeded: Bool
    /// The configuration version served after the attempt.
    var version: String
    /// Every error, with its JSON path, when the reload was refused.
    var errors: [String]

    /// The outcome as `/status` shows it and `POST /reload` answers (`GatewayStatusDocument.Reload`).
    var json: String {
        (try? CompactJSONEncoder.encode(GatewayStatusDocument.Reload(self))) ?? "{}"
    }
}
