// What the connection's state machine tells the handler to do: one enum, as
// AsyncHTTPClient's `HTTP1ConnectionStateMachine.Action`. `ProxyHandler.run(_:with:)`
// carries out every case and decides nothing itself.
extension ConnectionStateMachine {
    enum Action: Equatable {
        /// Nothing to carry out.
        case none

        // MARK: Client parts

        /// Hand the client's part to the exchange now (the handler feeds it as its own event).
        case takePart
        /// Hold the client's part, in order, until the exchange before it is done.
        case enqueuePart
        /// Issue the read the channel asked for (or that was held).
        case read

        // MARK: The request on its way

        /// Write the request body part upstream (bytes moved).
        case forwardBody
        /// Keep the body part until the upstream connection is ready, or for the gateway
        /// that reads the body itself.
        case holdBody
        /// The request is complete: write its end upstream; the request is fully sent.
        case forwardEnd
        /// The request's end arrived while it waits for admission (a body the gateway reads
        /// goes to whoever waits for it).
        case requestEndHeld
        /// Admitted: a `100 Continue` first when `sendContinue`, then an upstream connection.
        case connect(sendContinue: Bool)
        /// Write the head and the held body on the connection that arrived; `end`: the
        /// request is complete with it.
        case send(end: Bool)
        /// An upstream connection arrived for an exchange that has moved on: give it back.
        case releaseConnection

        // MARK: The response

        /// Ask the route's credential profile whether the upstream's 401 blames the token
        /// (its verdict goes back through `unauthorizedJudged(retry:)`).
        case judgeUnauthorized
        /// Pass the response head on; `keepAlive` is what it tells the client.
        case forwardResponseHead(keepAlive: Bool)
        /// Read this 401 to its end and drop it, then retry with a fresh token.
        case discardResponseHead
        /// Pass the 101 on; the tunnel starts at its end.
        case switchProtocols
        /// Pass the response body part on.
        case forwardResponseBody
        /// The 101 is complete: swap the HTTP handlers for a byte tunnel.
        case startTunnel
        /// The exchange is over. `reuseConnection`: the upstream connection goes back to the
        /// pool. `after`: what the client connection does next.
        case finish(reuseConnection: Bool, after: AfterAnswer)

        // MARK: Retries (each begins a new attempt: one `Exchange.beginAttempt()`)

        /// Send the request again with whatever token is current (the discarded 401 is
        /// complete); `reuseConnection` if the upstream connection may go back to the pool.
        case retryWithFreshToken(reuseConnection: Bool)
        /// A pooled connection the upstream had closed: send again on a new one.
        case retryOnNewConnection

        // MARK: The gateway's own answers

        /// Answer a head refused before any exchange began.
        case refuseHead(Answer)
        /// Refuse the exchange in flight with the answer the caller gave.
        case refuse(Failure)
        /// The body outgrew its limit (`max_body_bytes`, or less for a body the gateway reads).
        case refuseBodyTooLarge(Failure, limit: Int)
        /// The upstream's 101 is not the upgrade asked for.
        case refuseSwitchingProtocols(Failure)
        /// `wait`'s deadline passed during the exchange.
        case timedOut(Wait, Failure)
        /// A request head did not arrive in time: 408, then close.
        case requestTimeout
        /// A malformed head with no exchange in flight: 400 (or 431), then close.
        case refuseMalformed

        // MARK: The connection

        /// The discarded request is over, or the answer is out: wait for the next request.
        case nextRequest
        /// The client left (or sent what cannot be forwarded, `malformed`): drop the
        /// exchange in flight, logged as such.
        case abandon(malformed: Bool)
        /// Abandon the exchange in flight (malformed), then close at once.
        case abandonAndClose
        /// Close the connection now.
        case close
        /// The deadline moved: point the connection's timer at `deadline`.
        case armTimer
    }
}
