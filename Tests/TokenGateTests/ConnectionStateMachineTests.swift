import Testing
@testable import TokenGate

/// The connection's state machine, event by event, without sockets.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    /// A machine serving one bodiless keep-alive GET that has been admitted and connected.
    private func forwarding(_ facts: Machine.RequestFacts = .init()) -> Machine {
        var machine = Machine()
        #expect(machine.partArrived(isHead: true) == .process)
        machine.headAccepted(facts)
        _ = machine.admitted()
        _ = machine.upstreamConnected(reused: false)
        return machine
    }

    @Test("a keep-alive exchange: head, admission, connect, response, next request")
    func plainExchange() {
        var machine = Machine()
        #expect(machine.mayReadClient)
        #expect(machine.partArrived(isHead: true) == .process)
        machine.headAccepted(.init())
        #expect(machine.wait == .admission)
        #expect(machine.partArrived(isHead: false) == .process)
        #expect(machine.endArrived() == .hold)
        #expect(machine.admitted() == (connect: true, sendContinue: false))
        #expect(machine.wait == nil)
        #expect(machine.upstreamConnected(reused: false) == .send(end: true))
        #expect(machine.wait == .responseHead)
        #expect(machine.responseHead(status: 200, unauthorizedRetryable: false) == .forward(keepAlive: true))
        #expect(machine.wait == .idle)
        #expect(machine.responseEnd(reusable: true) == .finish(reuseConnection: true, after: .nextRequest))
        #expect(machine.state == .idle)
    }

    @Test("pipelined requests wait in order, at most the limit; the excess closes the connection after the queued ones")
    func pipeliningIsBounded() {
        var machine = Machine(maxQueuedRequests: 2)
        _ = machine.partArrived(isHead: true)
        machine.headAccepted(.init())
        _ = machine.endArrived()
        #expect(machine.partArrived(isHead: true) == .enqueue)
        #expect(machine.partArrived(isHead: false) == .enqueue)
        #expect(machine.partArrived(isHead: true) == .enqueue)
        #expect(!machine.mayReadClient, "no reading while requests wait")
        #expect(machine.partArrived(isHead: true) == .drop)
        #expect(machine.partArrived(isHead: false) == .drop)
        #expect(machine.closeAfterExchange)
        let result1 = machine.takeQueued(isHead: true)
        #expect(!result1, "not before the current exchange is done")
    }

    @Test("a client that does not read its answers gets no new request taken and is not read")
    func gatewayAnswersRespectWritability() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        let answer = machine.headRefused(hasBody: false, keepAlive: true, endsParsing: false, malformed: false)
        #expect(answer == .init(keepAlive: true, after: .discardRest))
        #expect(machine.endArrived() == .nextRequest)
        machine.clientWritabilityChanged(false)
        #expect(!machine.mayReadClient)
        let result2 = machine.readRequested()
        #expect(!result2)
        #expect(machine.partArrived(isHead: true) == .enqueue)
        let result3 = machine.takeQueued(isHead: true)
        #expect(!result3)
        machine.clientWritabilityChanged(true)
        let result4 = machine.takeQueued(isHead: true)
        #expect(result4)
        machine.headAccepted(.init())
        let heldRead = machine.resumeRead()
        #expect(!heldRead, "a request under admission is not read on")
    }

    @Test("100 Continue is decided only at admission, never for a request already complete")
    func continueAfterAdmission() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        machine.headAccepted(.init(hasBody: true, expectsContinue: true))
        #expect(!machine.mayReadClient, "the body waits for admission")
        #expect(machine.admitted() == (connect: true, sendContinue: true))

        var refused = Machine()
        _ = refused.partArrived(isHead: true)
        refused.headAccepted(.init(hasBody: true, expectsContinue: true))
        #expect(refused.fail() == .answer(.init(keepAlive: false, after: .lingerThenClose)))
    }

    @Test("a request body is read only while the upstream can take it")
    func bodyBackpressure() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        machine.headAccepted(.init(hasBody: true, maxBodyBytes: 10))
        #expect(!machine.mayReadClient)
        _ = machine.admitted()
        #expect(machine.upstreamConnected(reused: false) == .send(end: false))
        #expect(machine.mayReadClient)
        machine.upstreamWritabilityChanged(false)
        #expect(!machine.mayReadClient)
        #expect(machine.bodyArrived(bytes: 4) == .forward)
        if case .tooLarge(let failure, let limit) = machine.bodyArrived(bytes: 7) {
            #expect(failure == .answer(.init(keepAlive: false, after: .lingerThenClose)))
            #expect(limit == 10)
        } else {
            Issue.record("the body over max_body_bytes was not refused")
        }
    }

    @Test("an upgrade request: not read again; a 101 that completes the handshake starts the tunnel, anything else closes")
    func upgrade() {
        var machine = forwarding(.init(endsParsing: true, mayUpgrade: true))
        _ = machine.endArrived()
        #expect(!machine.mayReadClient)
        #expect(machine.responseHead(status: 101, unauthorizedRetryable: false, upgradeCompleted: true) == .startTunnel)
        #expect(machine.state == .tunnel)

        // A 101 without the handshake's Upgrade and Sec-WebSocket-Accept is never a tunnel.
        var unmatched = forwarding(.init(endsParsing: true, mayUpgrade: true))
        _ = unmatched.endArrived()
        #expect(unmatched.responseHead(status: 101, unauthorizedRetryable: false, upgradeCompleted: false) == .fail(.answer(.init(keepAlive: false, after: .close))))
        #expect(unmatched.state == .closed)

        var refused = forwarding(.init(endsParsing: true, mayUpgrade: true))
        _ = refused.endArrived()
        #expect(refused.responseHead(status: 403, unauthorizedRetryable: false) == .forward(keepAlive: false))
        #expect(refused.responseEnd(reusable: true) == .finish(reuseConnection: true, after: .close))

        var unasked = forwarding()
        _ = unasked.endArrived()
        #expect(unasked.responseHead(status: 101, unauthorizedRetryable: false) == .fail(.answer(.init(keepAlive: true, after: .nextRequest))))
    }

    @Test("an upstream 401 is retried once with a fresh token, then passed on")
    func unauthorizedRetry() {
        var machine = forwarding()
        _ = machine.endArrived()
        #expect(machine.responseHead(status: 401, unauthorizedRetryable: true) == .discardForRetry)
        #expect(!machine.forwardsResponseBody)
        #expect(machine.responseEnd(reusable: true) == .retryWithFreshToken(reuseConnection: true))
        #expect(machine.wait == .admission)
        #expect(machine.admitted() == (connect: true, sendContinue: false))
        _ = machine.upstreamConnected(reused: true)
        #expect(machine.responseHead(status: 401, unauthorizedRetryable: true) == .forward(keepAlive: true))
    }

    @Test("a dead pooled connection is retried once for a replayable request, never after the response began")
    func deadPooledConnection() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        machine.headAccepted(.init())
        _ = machine.endArrived()
        _ = machine.admitted()
        _ = machine.upstreamConnected(reused: true)
        #expect(machine.upstreamFailed() == .retryOnNewConnection)
        _ = machine.upstreamConnected(reused: false)
        #expect(machine.upstreamFailed() == .fail(.answer(.init(keepAlive: true, after: .nextRequest))))

        var streaming = forwarding()
        _ = streaming.endArrived()
        _ = streaming.responseHead(status: 200, unauthorizedRetryable: false)
        #expect(streaming.upstreamFailed() == .fail(.close))
    }

    @Test("quiesce closes an idle connection now and a busy one after its exchange")
    func quiesce() {
        var idle = Machine()
        #expect(idle.quiesce() == .closeNow)
        var busy = forwarding()
        _ = busy.endArrived()
        #expect(busy.quiesce() == .afterExchange)
        #expect(busy.responseHead(status: 200, unauthorizedRetryable: false) == .forward(keepAlive: false))
        #expect(busy.responseEnd(reusable: true) == .finish(reuseConnection: true, after: .close))
    }

    @Test("lingering drops what the client still sends, up to a byte cap")
    func lingering() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        #expect(machine.headRefused(hasBody: true, keepAlive: true, endsParsing: false, malformed: false) == .init(keepAlive: false, after: .lingerThenClose))
        #expect(machine.mayReadClient)
        #expect(machine.partArrived(isHead: false, bytes: 1000) == .drop)
        #expect(machine.partArrived(isHead: false, bytes: Machine.lingerBytes) == .close)
    }

    @Test("a parser error: 400 when idle, abandon mid-body, finish first when behind a complete request")
    func parserErrors() {
        var idle = Machine()
        #expect(idle.parserError(connectionActive: true) == .answer)
        var closed = Machine()
        #expect(closed.parserError(connectionActive: false) == .close)
        var midBody = Machine()
        _ = midBody.partArrived(isHead: true)
        midBody.headAccepted(.init(hasBody: true))
        #expect(midBody.parserError(connectionActive: true) == .abandonAndClose)
        var behind = forwarding()
        _ = behind.endArrived()
        #expect(behind.parserError(connectionActive: true) == .closeAfterExchange)
        #expect(behind.closeAfterExchange)
    }

    @Test("a refusal during admission keeps the connection only when the request is complete")
    func refusalDuringAdmission() {
        var complete = Machine()
        _ = complete.partArrived(isHead: true)
        complete.headAccepted(.init())
        _ = complete.endArrived()
        #expect(complete.fail() == .answer(.init(keepAlive: true, after: .nextRequest)))
        var bodyless = Machine()
        _ = bodyless.partArrived(isHead: true)
        bodyless.headAccepted(.init())
        #expect(bodyless.fail() == .answer(.init(keepAlive: true, after: .discardRest)))
        #expect(bodyless.endArrived() == .nextRequest)
    }
}
