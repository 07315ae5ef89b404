import NIOCore

/// A copy of a request body in one buffer, up to a limit: the 401 replay copy, and a body
/// the gateway reads itself (`Exchange.ownBody`). Copied, never sliced: a slice
/// keeps the whole read buffer it came from alive, so a body sent in 1-byte segments would
/// pin a hundred times its size.
struct ReplayCopy {
    /// Allocated at the first part: a request without a body costs nothing.
    private(set) var buffer: ByteBuffer?
    let limit: Int
    private let capacity: Int
    private let allocator: ByteBufferAllocator

    init(capacity: Int, limit: Int, allocator: ByteBufferAllocator) {
        self.capacity = capacity
        self.limit = limit
        self.allocator = allocator
    }

    var readableBytes: Int { buffer?.readableBytes ?? 0 }

    /// Appends `part`; false when the body outgrows the limit (the copy is then useless).
    mutating func append(_ part: ByteBuffer) -> Bool {
        guard readableBytes + part.readableBytes <= limit else { return false }
        var part = part
        if buffer == nil { buffer = allocator.buffer(capacity: max(capacity, part.readableBytes)) }
        buffer?.writeBuffer(&part)
        return true
    }
}
