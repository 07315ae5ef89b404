import NIOCore

/// The 408 for a request head that did not arrive in time, as bytes: rendered as every
/// other answer of the gateway's own (`RenderedAnswer`), but written below any HTTP codec,
/// since no request exists for a codec to answer.
enum RequestTimeoutAnswer {
    /// The whole answer in one buffer, and its body's size (for metrics and the access
    /// log); nil should the rendering fail (then the connection just closes).
    static func bytes(allocator: ByteBufferAllocator) -> (bytes: ByteBuffer, bodyBytes: Int)? {
        let rendered = GatewayAnswer(.requestTimeout).rendered(version: .http1_1, keepAlive: false, method: .GET, allocator: allocator)
        guard var bytes = rendered.headBytes(allocator: allocator) else { return nil }
        bytes.writeImmutableBuffer(rendered.body)
        return (bytes, rendered.body.readableBytes)
    }
}
