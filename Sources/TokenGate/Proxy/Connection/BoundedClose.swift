import NIOCore

/// Closing a connection after its last bytes, with a deadline.
///
/// A close that waits for a write to finish waits for the peer to read: a client (or a
/// tunnel partner) that stops reading would hold the socket, its send buffer and a file
/// descriptor for ever, unauthenticated. Every close the gateway defers to a write goes
/// through here, so it happens when the bytes are out or when `limit` has passed,
/// whichever comes first.
enum BoundedClose {
    /// Closes `channel` (`mode`) once `written` completes, or closes it entirely when
    /// `limit` passes first. With no write to wait for, closes at once.
    static func close(_ channel: any Channel, mode: CloseMode = .all, after written: EventLoopFuture<Void>?, within limit: TimeAmount) {
        guard let written else {
            channel.close(mode: mode, promise: nil)
            return
        }
        let forced = channel.eventLoop.assumeIsolated().scheduleTask(in: limit) {
            channel.close(promise: nil)
        }
        written.assumeIsolated().whenComplete { _ in
            forced.cancel()
            channel.close(mode: mode, promise: nil)
        }
    }
}
