// The upstream half of the connection's state machine: connecting, the response, the
// retries (a dead pooled connection, a 401 answered with a fresh token) and upgrades.
extension ConnectionStateMachine {
    enum ConnectedAction: Equatable {
        /// Write the head and held body; `end` says the request is complete too.
        case send(end: Bool)
        /// The exchange is gone: give the connection back.
        case release
    }

    /// An upstream connection is ready for the current request.
    mutating func upstreamConnected(reused: Bool) -> ConnectedAction {
        guard case .serving(var request) = state, request.stage == .connecting else { return .release }
        request.stage = .forwarding
        request.reusedConnection = reused
        request.sent = request.ended
        upstreamWritable = true
        state = .serving(request)
        return .send(end: request.ended)
    }

    enum ResponseHeadAction: Equatable {
        /// Pass the head on; `keepAlive` is what it tells the client.
        case forward(keepAlive: Bool)
        /// Read this 401 to its end and drop it, then retry with a fresh token.
        case discardForRetry
        /// The upstream switched protocols: pass the 101 on and become a byte tunnel.
        case startTunnel
        /// The upstream answered in a way that cannot be passed on.
        case fail(Failure)
    }

    /// Whether a 401 now could still be retried (the first one, the request fully sent).
    var mayRetryUnauthorized: Bool {
        guard let request, request.stage == .forwarding else { return false }
        return request.credentialRetries == 0 && request.ended
    }

    /// The upstream's response head. `unauthorizedRetryable` says the route could send the
    /// request again with a fresh token (it injects one and kept the body);
    /// `upgradeCompleted` that a `101` completes the WebSocket handshake the request asked
    /// for (any other `101` is refused, never a tunnel).
    mutating func responseHead(status: Int, unauthorizedRetryable: Bool, upgradeCompleted: Bool = false) -> ResponseHeadAction {
        guard case .serving(var request) = state, request.stage == .forwarding else { return .fail(.ignore) }
        if status == 401, unauthorizedRetryable, request.credentialRetries == 0, request.ended {
            request.response = .discardingUnauthorized
            state = .serving(request)
            return .discardForRetry
        }
        if status == 101 {
            guard request.facts.mayUpgrade, request.ended, upgradeCompleted else { return .fail(fail()) }
            state = .tunnel
            return .startTunnel
        }
        request.response = .streaming
        // A response before the request body is complete ends the connection: the rest of
        // that body has nowhere to go. So does a shutdown in progress.
        if !request.ended || closesAfterThisExchange { request.keepAlive = false }
        state = .serving(request)
        return .forward(keepAlive: request.keepAlive)
    }

    /// The response cannot be delimited except by closing (an HTTP/1.0 client and a body
    /// of unknown length).
    mutating func responseDelimitedByClose() {
        guard case .serving(var request) = state else { return }
        request.keepAlive = false
        state = .serving(request)
    }

    /// Whether a response body part goes to the client (false while a 401 is dropped).
    var forwardsResponseBody: Bool {
        request?.response == .streaming
    }

    enum ResponseEndAction: Equatable {
        /// Send the request again with a fresh token; `reuseConnection` if the upstream
        /// connection may go back to the pool.
        case retryWithFreshToken(reuseConnection: Bool)
        /// The exchange is over. `reuseConnection`: the upstream connection goes back to the
        /// pool. `after`: what the client connection does next.
        case finish(reuseConnection: Bool, after: AfterAnswer)
        case ignore
    }

    mutating func responseEnd(reusable: Bool) -> ResponseEndAction {
        guard case .serving(var request) = state else { return .ignore }
        let reuse = reusable && request.sent
        if request.response == .discardingUnauthorized {
            request.credentialRetries += 1
            request.response = .none
            request.stage = .admitting
            request.sent = false
            state = .serving(request)
            return .retryWithFreshToken(reuseConnection: reuse)
        }
        if request.keepAlive && !closesAfterThisExchange {
            state = .idle
            return .finish(reuseConnection: reuse, after: .nextRequest)
        }
        let answer = closingAnswer(requestComplete: request.ended)
        return .finish(reuseConnection: reuse, after: answer.after)
    }

    enum UpstreamFailureAction: Equatable {
        /// A pooled connection the upstream had closed: send again on a new one.
        case retryOnNewConnection
        case fail(Failure)
    }

    /// The upstream connection failed or closed before the response was complete.
    mutating func upstreamFailed() -> UpstreamFailureAction {
        guard case .serving(var request) = state, request.stage == .forwarding else { return .fail(.ignore) }
        if request.response != .streaming, request.connectionRetries == 0, request.reusedConnection,
           request.facts.replayable, request.ended {
            request.connectionRetries += 1
            request.response = .none
            request.stage = .connecting
            request.sent = false
            state = .serving(request)
            return .retryOnNewConnection
        }
        return .fail(fail())
    }
}
