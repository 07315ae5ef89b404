/// The streams one HTTP/2 connection runs at once, held to the listener's
/// `max_connections` (`ClientPipeline.StreamAdmission`): the connection's own slot covers
/// its first stream, each stream beside it takes one more, given back as streams end.
/// Counted here, on the connection's event loop, so that a connection serving one stream
/// at a time never touches the shared tracker.
final class HTTP2StreamSlots {
    private let admission: ClientPipeline.StreamAdmission
    /// Admitted streams not yet ended.
    private var open = 0

    init(admission: ClientPipeline.StreamAdmission) {
        self.admission = admission
    }

    /// Whether a new stream may run (false: it is refused).
    func admit() -> Bool {
        if open > 0, !admission.reserve() { return false }
        open += 1
        return true
    }

    /// An admitted stream ended (its channel closed).
    func streamEnded() {
        guard open > 0 else { return }
        open -= 1
        if open > 0 { admission.release() }
    }
}
