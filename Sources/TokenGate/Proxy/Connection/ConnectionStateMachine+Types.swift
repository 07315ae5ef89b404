import NIOCore

// The values the connection's state machine reasons with (what it knows of a request,
// where an exchange stands, which wait applies) and the decisions it hands back.
extension ConnectionStateMachine {
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
        /// The route's response-header timeout; admission is bounded by it too.
        var responseHeaderTimeout: TimeAmount
        /// The route's idle timeout while bytes move.
        var idleTimeout: TimeAmount

        init(hasBody: Bool = false, keepAlive: Bool = true, expectsContinue: Bool = false, endsParsing: Bool = false,
             mayUpgrade: Bool = false, replayable: Bool = true, maxBodyBytes: Int = .max,
             responseHeaderTimeout: TimeAmount = .seconds(30), idleTimeout: TimeAmount = .seconds(60)) {
            self.hasBody = hasBody
            self.keepAlive = keepAlive
            self.expectsContinue = expectsContinue
            self.endsParsing = endsParsing
            self.mayUpgrade = mayUpgrade
            self.replayable = replayable
            self.maxBodyBytes = maxBodyBytes
            self.responseHeaderTimeout = responseHeaderTimeout
            self.idleTimeout = idleTimeout
        }
    }

    /// What the handler knows, at an upstream 401, of whether the request could be sent again
    /// with a fresh token.
    struct RetryFacts: Equatable {
        /// The route injects a credential.
        var injectsCredential: Bool
        /// The whole body was kept for a replay.
        var bodyKept: Bool
        /// A token was injected into this attempt (the one the upstream refused).
        var tokenInjected: Bool

        static let none = RetryFacts(injectsCredential: false, bodyKept: false, tokenInjected: false)
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
        /// A 401 arrived; the credential profile is asked whether a fresh token may help.
        case judgingUnauthorized
        /// The head went to the client; the body streams.
        case streaming
        /// An upstream 401 is read to its end and dropped, to retry with a fresh token.
        case discardingUnauthorized
    }

    /// The exchange being served.
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
        /// The upstream accepted an upgrade: its 101 goes to the client, then bytes flow
        /// both ways and HTTP is over.
        case tunnel
        /// Our side is shut after an early answer; the client's remaining bytes are read
        /// and dropped for a moment so it sees the answer rather than a reset.
        case lingering(bytes: Int)
        case closed
    }

    /// Which deadline applies now (`ConnectionDeadlines` has the instants).
    enum Wait: Equatable {
        /// A request head is being read (or a new connection's first is due).
        case head
        /// A keep-alive connection waits for its next request.
        case keepAlive
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
}
