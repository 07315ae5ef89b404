/// The life of one client connection, as a value: events in, decisions out.
///
/// It owns every fact that decides what happens next on a connection: which request is
/// being served and how far it has got in each direction, whether the client may be read,
/// how many pipelined requests wait and whether the connection ends after this exchange.
/// `ProxyHandler` feeds it events (a request part, an answer from the control plane, an
/// upstream event, a timer, writability) and carries out what it returns; it keeps no
/// flags of its own. Modelled on AsyncHTTPClient's `HTTP1ConnectionStateMachine` and our
/// `TokenState`, and tested event by event without sockets.
///
/// Invariants it keeps:
/// - a request head is taken only while the client is writable, so a client that sends
///   requests and never reads the answers stops being read (no unbounded output buffer);
/// - at most `maxQueuedRequests` pipelined requests wait; past that the excess is dropped
///   and the connection closes after the queued ones are answered (RFC 9112 §9.3.2 lets a
///   client retry requests a closed connection did not answer);
/// - a request body is read only while the upstream can take it;
/// - after a request that ends HTTP parsing (an upgrade), the client is not read again
///   until the upstream has switched protocols; any other answer closes the connection.
struct ConnectionStateMachine {
    /// What the machine needs to know of a request head the planner accepted.
    struct RequestFacts: Equatable {
        /// The request declares a body (`Content-Length` > 0 or chunked).
        var hasBody: Bool
        /// The client asked to keep the connection open.
        var keepAlive: Bool
        /// `Expect: 100-continue` (HTTP/1.1).
        var expectsContinue: Bool
        /// The HTTP decoder stops after this request (an `Upgrade` request): nothing can follow it.
        var endsParsing: Bool
        /// The request is forwarded as an upgrade, so a `101` from the upstream starts a tunnel.
        var mayUpgrade: Bool
        /// Safe to send again on a new connection when a pooled one turns out to be dead.
        var replayable: Bool
        /// The route's `max_body_bytes`.
        var maxBodyBytes: Int

        init(hasBody: Bool = false, keepAlive: Bool = true, expectsContinue: Bool = false, endsParsing: Bool = false,
             mayUpgrade: Bool = false, replayable: Bool = true, maxBodyBytes: Int = .max) {
            self.hasBody = hasBody
            self.keepAlive = keepAlive
            self.expectsContinue = expectsContinue
            self.endsParsing = endsParsing
            self.mayUpgrade = mayUpgrade
            self.replayable = replayable
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// How far the current request has got on its way to the upstream.
    enum Stage: Equatable {
        /// Inbound validation or the outbound credential is being looked up.
        case admitting
        /// Admitted; an upstream connection is on its way.
        case connecting
        /// An upstream connection carries the request.
        case forwarding
    }

    /// What the upstream's answer is doing.
    enum ResponseProgress: Equatable {
        case none
        /// The head went to the client; the body streams.
        case streaming
        /// An upstream 401 is read to its end and dropped, to retry with a fresh token.
        case discardingUnauthorized
    }

    struct Request: Equatable {
        var facts: RequestFacts
        var stage = Stage.admitting
        var bodyBytes = 0
        var ended = false
        var continueSent = false
        var response = ResponseProgress.none
        /// The response head told the client the connection stays open.
        var keepAlive: Bool
        var connectionRetries = 0
        var credentialRetries = 0
        /// The whole request has been written to the upstream connection.
        var sent = false
        /// The upstream connection came from the pool (it may have been closed meanwhile).
        var reusedConnection = false
        /// The gateway itself reads this request's body while admitting it (a back-channel
        /// logout token), within the limit it set.
        var gatewayReadsBody = false
    }

    enum State: Equatable {
        /// Waiting for a request head.
        case idle
        /// A request is being served.
        case serving(Request)
        /// The gateway answered on its own; the rest of the request is read and dropped,
        /// then the connection waits for the next request.
        case discarding
        /// The upstream switched protocols: bytes flow both ways, HTTP is over.
        case tunnel
        /// Our side is shut after an early answer; the client's remaining bytes are read
        /// and dropped for a moment so it sees the answer rather than a reset.
        case lingering(bytes: Int)
        case closed
    }

    /// Which deadline applies now; the handler knows the instants.
    enum Wait: Equatable {
        /// Validation or credential lookup, counted from the head's arrival.
        case admission
        /// The response head, counted from when the request was fully sent.
        case responseHead
        /// Bytes moving in either direction.
        case idle
    }

    /// After the gateway writes an answer of its own.
    enum AfterAnswer: Equatable {
        /// The request is complete: go on with the next one.
        case nextRequest
        /// Keep the connection; drop the rest of this request first.
        case discardRest
        /// Close once the answer is written.
        case close
        /// Shut our side once the answer is written, drop what the client still sends for
        /// a moment, then close (nginx's lingering close).
        case lingerThenClose
    }

    /// The gateway's own answer: whether it says keep-alive, and what follows it.
    struct Answer: Equatable {
        var keepAlive: Bool
        var after: AfterAnswer
    }

    /// When forwarding cannot go on.
    enum Failure: Equatable {
        /// No response has started: answer on the upstream's behalf.
        case answer(Answer)
        /// A response is already streaming: the only honest signal is to close.
        case close
        /// Nothing is in flight (the event is stale).
        case ignore
    }

    static let defaultMaxQueuedRequests = 128
    /// Lingering close: the most bytes dropped before closing anyway (nginx's `lingering_time` has a byte cap too).
    static let lingerBytes = 1 << 20

    let maxQueuedRequests: Int

    // The stored facts below are written only by the machine's own methods (in this file
    // and its +Request and +Upstream extensions); the handler reads them, never writes.

    var state = State.idle
    /// Request heads waiting behind the current exchange (the handler holds their parts).
    var queuedRequests = 0
    /// More requests arrived than may queue: the excess is dropped and the connection
    /// closes once the queued ones are answered.
    var queueOverflowed = false
    /// Close after the current exchange (shutdown, a retired listener, a protocol error).
    var closeAfterExchange = false
    /// A request ended HTTP parsing: the client cannot send another.
    var parsingEnded = false
    private(set) var clientWritable = true
    var upstreamWritable = true
    /// A read was asked for while reading was not allowed.
    private(set) var readPending = false

    init(maxQueuedRequests: Int = Self.defaultMaxQueuedRequests) {
        self.maxQueuedRequests = maxQueuedRequests
    }

    /// Whether the exchange being served is the connection's last: after a quiesce at
    /// once; after an overflow or garbage behind the queue, once the queue is served.
    var closesAfterThisExchange: Bool {
        closeAfterExchange && (!queueOverflowed || queuedRequests == 0)
    }

    /// Whether the current request waits for its admission (validation, credential).
    var isAdmitting: Bool {
        if case .serving(let request) = state { return request.stage == .admitting }
        return false
    }

    var request: Request? {
        if case .serving(let request) = state { return request }
        return nil
    }

    // MARK: Reading and queueing

    /// Whether the client may be read now.
    var mayReadClient: Bool {
        switch state {
        case .closed, .tunnel: return false
        case .lingering: return true
        case .discarding: return queuedRequests == 0
        case .idle: return queuedRequests == 0 && clientWritable && !parsingEnded
        case .serving(let request):
            if queuedRequests > 0 { return false }
            if request.ended {
                // Reading on lets a client that leaves be noticed; nothing can follow an upgrade.
                return !request.facts.endsParsing
            }
            return (request.stage == .forwarding && upstreamWritable) || (request.stage == .admitting && request.gatewayReadsBody)
        }
    }

    /// The gateway answers this request itself and needs its body: reads go on while
    /// admitting, and the body (held meanwhile) may be at most `limit` bytes, the route's
    /// limit if that is smaller.
    mutating func gatewayReadsBody(limit: Int) {
        guard case .serving(var request) = state else { return }
        request.gatewayReadsBody = true
        request.facts.maxBodyBytes = min(request.facts.maxBodyBytes, limit)
        state = .serving(request)
    }

    /// Whether the current request's body has fully arrived.
    var requestEnded: Bool {
        if case .serving(let request) = state { return request.ended }
        return false
    }

    /// The channel asked to read: true to read now, false to hold the read for later.
    mutating func readRequested() -> Bool {
        if mayReadClient { return true }
        readPending = true
        return false
    }

    /// Whether a held read should be issued now (call after any event that may allow it).
    mutating func resumeRead() -> Bool {
        guard readPending, mayReadClient else { return false }
        readPending = false
        return true
    }

    /// Whether the current request still takes parts (its body and end).
    private var currentTakesParts: Bool {
        switch state {
        case .discarding: return true
        case .serving(let request): return !request.ended
        case .idle, .tunnel, .lingering, .closed: return false
        }
    }

    /// Whether a new request head may be taken now.
    private var mayStartRequest: Bool {
        if case .idle = state { return clientWritable }
        return false
    }

    enum Arrival: Equatable {
        /// Hand the part to the exchange now.
        case process
        /// Hold it, in order, until the exchange before it is done.
        case enqueue
        /// Drop it (over the queue limit, after a closing answer, or while lingering).
        case drop
        /// Lingering took more bytes than allowed: close now.
        case close
    }

    /// A request part arrived from the client. `isHead` marks a new request's head;
    /// `bytes` is a body part's size.
    mutating func partArrived(isHead: Bool, bytes: Int = 0) -> Arrival {
        switch state {
        case .closed, .tunnel:
            return .drop
        case .lingering(let dropped):
            let total = dropped + bytes
            if total > Self.lingerBytes || isHead {
                state = .closed
                return .close
            }
            state = .lingering(bytes: total)
            return .drop
        case .idle, .serving, .discarding:
            break
        }
        if queueOverflowed { return .drop }
        if queuedRequests > 0 {
            return enqueue(isHead: isHead)
        }
        if isHead ? mayStartRequest : currentTakesParts { return .process }
        return enqueue(isHead: isHead)
    }

    private mutating func enqueue(isHead: Bool) -> Arrival {
        guard isHead else { return .enqueue }
        guard queuedRequests < maxQueuedRequests else {
            queueOverflowed = true
            closeAfterExchange = true
            return .drop
        }
        queuedRequests += 1
        return .enqueue
    }

    /// Whether the handler may hand the next queued part over; `isHead` says what it is.
    /// Returns true and counts it out when it may.
    mutating func takeQueued(isHead: Bool) -> Bool {
        if isHead {
            guard mayStartRequest else { return false }
            queuedRequests -= 1
            return true
        }
        return currentTakesParts
    }

    /// The client's side of the connection has room again, or no longer has.
    mutating func clientWritabilityChanged(_ writable: Bool) {
        clientWritable = writable
    }

    mutating func upstreamWritabilityChanged(_ writable: Bool) {
        upstreamWritable = writable
    }
}
