import Crypto
import ExtrasBase64
import NIOHTTP1

/// The one protocol switch the gateway forwards: a WebSocket opening handshake (RFC 6455
/// §4). A `101` turns the connection into a byte tunnel in which later bytes skip
/// validation and header rules, so it is honoured only when it completes the handshake
/// the client asked for: `Upgrade: websocket`, `Connection: upgrade` and `Sec-WebSocket-Accept` equal to
/// base64(SHA-1(key + GUID)) for the request's `Sec-WebSocket-Key`. Anything else, such
/// as an app endpoint that reflects a status, gets a 502.
struct WebSocketHandshake: Equatable {
    /// The `Sec-WebSocket-Accept` value the upstream must answer with.
    let expectedAccept: String

    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The handshake of a request whose `Sec-WebSocket-Key` is valid (one field, the
    /// base64 of 16 bytes); nil when the request cannot open a WebSocket.
    init?(requestHeaders: HTTPHeaders) {
        let keys = requestHeaders["sec-websocket-key"]
        guard keys.count == 1, let key = keys.first?.trimmingASCIIWhitespace(), key.utf8.count == 24,
              let nonce = try? Base64.decode(string: key), nonce.count == 16 else { return nil }
        expectedAccept = Self.accept(forKey: key)
    }

    static func accept(forKey key: String) -> String {
        Base64.encodeToString(bytes: Array(Insecure.SHA1.hash(data: Array((key + guid).utf8))))
    }

    /// Whether a `101` head completes this handshake (RFC 6455 §4.1: `Upgrade: websocket`,
    /// `Connection: upgrade` and the accept value).
    func isCompleted(by response: HTTPHeaders) -> Bool {
        let accepts = response["sec-websocket-accept"]
        return Self.lists(response, "upgrade", "websocket") && Self.lists(response, "connection", "upgrade")
            && accepts.count == 1 && accepts.first?.trimmingASCIIWhitespace() == expectedAccept
    }

    /// Whether a list field `name` has the element `token` (case-insensitive).
    private static func lists(_ headers: HTTPHeaders, _ name: String, _ token: String) -> Bool {
        headers[name].contains { value in RequestHeaderScan.commaSeparated(value).contains { $0.caseInsensitiveEquals(token) } }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (header field values, RFC 9110 §5.5).
    func trimmingASCIIWhitespace() -> String {
        var view = Substring(self)
        while let first = view.utf8.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { view = view.dropFirst() }
        while let last = view.utf8.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { view = view.dropLast() }
        return String(view)
    }
}
