import NIOCore
import Testing
@testable import TokenGate

/// The connection's state machine, event by event, without sockets.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    /// The clock's start; instants in these tests are offsets from it.
    private let t0 = NIODeadline.uptimeNanoseconds(0)
    /// What a route that injects a credential knows at a 401: the body kept, a token injected.
    private let retryable = Machine.RetryFacts(injectsCredential: true, bodyKept: true, tokenInjected: true)

    /// A machine serving one bodiless keep-alive GET that has been admitted and connected.
    private func forwarding(_ facts: Machine.RequestFacts = .init(), reused: Bool = false) -> Machine {
        var machine = Machine()
        #expect(machine.partArrived(isHead: true) == .takePart)
        machine.headAccepted(facts, at: t0)
        _ = machine.admitted()
        _ = machine.upstreamConnected(reused: reused, at: t0)
        return machine
    }

    @Test("a keep-alive exchange: head, admission, connect, response, next request")
    func plainExchange() {
        var machine = Machine()
        #expect(machine.mayReadClient)
        #expect(machine.partArrived(isHead: true) == .takePart)
        machine.headAccepted(.init(), at: t0)
        #expect(machine.wait == .admission)
        #expect(machine.partArrived(isHead: false) == .takePart)
        #expect(machine.endArrived(at: t0) == .requestEndHeld)
        #expect(machine.admitted() == .connect(sendContinue: false))
        #expect(machine.wait == nil)
        #expect(machine.upstreamConnected(reused: false, at: t0) == .send(end: true))
        #expect(machine.wait == .responseHead)
        #expect(machine.responseHead(status: 200, at: t0) == .forwardResponseHead(keepAlive: true))
        #expect(machine.wait == .idle)
        #expect(machine.responseEnd(reusable: true) == .finish(reuseConnection: true, after: .nextRequest))
        #expect(machine.current == .idle)
    }

    @Test("pipelined requests wait in order, at most the limit; the excess closes the connection after the queued ones")
    func pipeliningIsBounded() {
        var machine = Machine(maxQueuedRequests: 2)
        _ = machine.partArrived(isHead: true)
        machine.headAccepted(.init(), at: t0)
        _ = machine.endArrived(at: t0)
        #expect(machine.partArrived(isHead: true) == .enqueuePart)
        #expect(machine.partArrived(isHead: false) == .enqueuePart)
        #expect(machine.partArrived(isHead: true) == .enqueuePart)
        #expect(!machine.mayReadClient, "no reading while requests wait")
        #expect(machine.partArrived(isHead: true) == .none)
        #expect(machine.partArrived(isHead: false) == .none)
        #expect(machine.closeAfterExchange)
        #expect(machine.takeQueued(isHead: true) == .none, "not before the current exchange is done")
    }

    @Test("a client that does not read its answers gets no new request taken and is not read")
    func gatewayAnswersRespectWritability() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        #expect(machine.headRefused(hasBody: false, keepAlive: true, endsParsing: false, malformed: false) == .refuseHead(.init(keepAlive: true, after: .discardRest)))
        #expect(machine.endArrived(at: t0) == .nextRequest)
        machine.clientWritabilityChanged(false)
        #expect(!machine.mayReadClient)
        #expect(machine.readRequested() == .none)
        #expect(machine.partArrived(isHead: true) == .enqueuePart)
        #expect(machine.takeQueued(isHead: true) == .none)
        machine.clientWritabilityChanged(true)
        #expect(machine.takeQueued(isHead: true) == .takePart)
        machine.headAccepted(.init(), at: t0)
        #expect(machine.resumeRead() == .none, "a request under admission is not read on")
    }

    @Test("100 Continue is decided only at admission, never for a request already complete")
    func continueAfterAdmission() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        machine.headAccepted(.init(hasBody: true, expectsContinue: true), at: t0)
        #expect(!machine.mayReadClient, "the body waits for admission")
        #expect(machine.admitted() == .connect(sendContinue: true))

        var refused = Machine()
        _ = refused.partArrived(isHead: true)
        refused.headAccepted(.init(hasBody: true, expectsContinue: true), at: t0)
        #expect(refused.refuse() == .refuse(.answer(.init(keepAlive: false, after: .lingerThenClose))))
    }

    @Test("a request body is read only while the upstream can take it")
    func bodyBackpressure() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        machine.headAccepted(.init(hasBody: true, maxBodyBytes: 10), at: t0)
        #expect(!machine.mayReadClient)
        _ = machine.admitted()
        #expect(machine.upstreamConnected(reused: false, at: t0) == .send(end: false))
        #expect(machine.mayReadClient)
        _ = machine.upstreamWritabilityChanged(false)
        #expect(!machine.mayReadClient)
        #expect(machine.bodyArrived(bytes: 4, at: t0) == .forwardBody)
        #expect(machine.bodyArrived(bytes: 7, at: t0) == .refuseBodyTooLarge(.answer(.init(keepAlive: false, after: .lingerThenClose)), limit: 10),
                "the body over max_body_bytes is refused")
    }

    @Test("an upgrade request: not read again; a 101 that completes the handshake starts the tunnel, anything else closes")
    func upgrade() {
        var machine = forwarding(.init(endsParsing: true, mayUpgrade: true))
        _ = machine.endArrived(at: t0)
        #expect(!machine.mayReadClient)
        #expect(machine.responseHead(status: 101, upgradeCompleted: true, at: t0) == .switchProtocols)
        #expect(machine.current == .tunnel)
        #expect(machine.responseEnd(reusable: true) == .startTunnel, "the tunnel starts at the 101's end")

        // A 101 without the handshake's Upgrade and Sec-WebSocket-Accept is never a tunnel.
        var unmatched = forwarding(.init(endsParsing: true, mayUpgrade: true))
        _ = unmatched.endArrived(at: t0)
        #expect(unmatched.responseHead(status: 101, upgradeCompleted: false, at: t0) == .refuseSwitchingProtocols(.answer(.init(keepAlive: false, after: .close))))
        #expect(unmatched.current == .closed)

        var refused = forwarding(.init(endsParsing: true, mayUpgrade: true))
        _ = refused.endArrived(at: t0)
        #expect(refused.responseHead(status: 403, at: t0) == .forwardResponseHead(keepAlive: false))
        #expect(refused.responseEnd(reusable: true) == .finish(reuseConnection: true, after: .close))

        var unasked = forwarding()
        _ = unasked.endArrived(at: t0)
        #expect(unasked.responseHead(status: 101, at: t0) == .refuseSwitchingProtocols(.answer(.init(keepAlive: true, after: .nextRequest))))
    }

    @Test("an upstream 401 is retried once with a fresh token, then passed on")
    func unauthorizedRetry() {
        var machine = forwarding()
        _ = machine.endArrived(at: t0)
        #expect(machine.responseHead(status: 401, retry: retryable, at: t0) == .judgeUnauthorized)
        #expect(machine.unauthorizedJudged(retry: true) == .discardResponseHead)
        #expect(machine.responseBodyArrived(at: t0) == .none, "the dropped 401's body goes nowhere")
        #expect(machine.responseEnd(reusable: true) == .retryWithFreshToken(reuseConnection: true))
        #expect(machine.wait == .admission)
        #expect(machine.admitted() == .connect(sendContinue: false))
        _ = machine.upstreamConnected(reused: true, at: t0)
        #expect(machine.responseHead(status: 401, retry: retryable, at: t0) == .forwardResponseHead(keepAlive: true))
    }

    @Test("a 401 is retried only with a kept body, an injected token and the profile's retry verdict")
    func unauthorizedRetryNeedsEveryFact() {
        for facts in [
            Machine.RetryFacts(injectsCredential: false, bodyKept: true, tokenInjected: true),
            Machine.RetryFacts(injectsCredential: true, bodyKept: false, tokenInjected: true),
            Machine.RetryFacts(injectsCredential: true, bodyKept: true, tokenInjected: false),
        ] {
            var machine = forwarding()
            _ = machine.endArrived(at: t0)
            #expect(machine.responseHead(status: 401, retry: facts, at: t0) == .forwardResponseHead(keepAlive: true))
        }
        var blamed = forwarding()
        _ = blamed.endArrived(at: t0)
        #expect(blamed.responseHead(status: 401, retry: retryable, at: t0) == .judgeUnauthorized)
        #expect(blamed.unauthorizedJudged(retry: false) == .forwardResponseHead(keepAlive: true), "the profile says a fresh token would not help")
        #expect(blamed.responseBodyArrived(at: t0) == .forwardResponseBody)

        // A request whose body is still arriving cannot be sent again.
        var unfinished = forwarding(.init(hasBody: true))
        #expect(unfinished.responseHead(status: 401, retry: retryable, at: t0) == .forwardResponseHead(keepAlive: false))
    }

    @Test("a dead pooled connection is retried once for a replayable request, never after the response began")
    func deadPooledConnection() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        machine.headAccepted(.init(), at: t0)
        _ = machine.endArrived(at: t0)
        _ = machine.admitted()
        _ = machine.upstreamConnected(reused: true, at: t0)
        #expect(machine.upstreamFailed() == .retryOnNewConnection)
        _ = machine.upstreamConnected(reused: false, at: t0)
        #expect(machine.upstreamFailed() == .refuse(.answer(.init(keepAlive: true, after: .nextRequest))))

        var streaming = forwarding()
        _ = streaming.endArrived(at: t0)
        _ = streaming.responseHead(status: 200, at: t0)
        #expect(streaming.upstreamFailed() == .refuse(.close))
    }

    @Test("the stale-connection retry needs a reused connection, a replayable request and the request fully sent")
    func staleRetryNeedsEveryFact() {
        var fresh = forwarding(reused: false)
        _ = fresh.endArrived(at: t0)
        #expect(fresh.upstreamFailed() == .refuse(.answer(.init(keepAlive: true, after: .nextRequest))), "a new connection did not go stale")

        var unsafe = forwarding(.init(replayable: false), reused: true)
        _ = unsafe.endArrived(at: t0)
        #expect(unsafe.upstreamFailed() == .refuse(.answer(.init(keepAlive: true, after: .nextRequest))), "not idempotent, or with a body")

        var partial = forwarding(.init(hasBody: true), reused: true)
        #expect(partial.upstreamFailed() == .refuse(.answer(.init(keepAlive: false, after: .lingerThenClose))), "not fully sent")

        var retried = forwarding(reused: true)
        _ = retried.endArrived(at: t0)
        #expect(retried.upstreamFailed() == .retryOnNewConnection)
        #expect(retried.wait == nil, "connecting again: the pool's connect timeout bounds it")
    }

    @Test("quiesce closes an idle connection now and a busy one after its exchange")
    func quiesce() {
        var idle = Machine()
        #expect(idle.quiesce() == .close)
        var busy = forwarding()
        _ = busy.endArrived(at: t0)
        #expect(busy.quiesce() == .none)
        #expect(busy.responseHead(status: 200, at: t0) == .forwardResponseHead(keepAlive: false))
        #expect(busy.responseEnd(reusable: true) == .finish(reuseConnection: true, after: .close))
    }

    @Test("lingering drops what the client still sends, up to a byte cap")
    func lingering() {
        var machine = Machine()
        _ = machine.partArrived(isHead: true)
        #expect(machine.headRefused(hasBody: true, keepAlive: true, endsParsing: false, malformed: false) == .refuseHead(.init(keepAlive: false, after: .lingerThenClose)))
        #expect(machine.mayReadClient)
        #expect(machine.partArrived(isHead: false, bytes: 1000) == .none)
        #expect(machine.partArrived(isHead: false, bytes: Machine.lingerBytes) == .close)
    }

    @Test("a parser error: 400 when idle, abandon mid-body, finish first when behind a complete request")
    func parserErrors() {
        var idle = Machine()
        #expect(idle.parserError(connectionActive: true) == .refuseMalformed)
        var closed = Machine()
        #expect(closed.parserError(connectionActive: false) == .close)
        var midBody = Machine()
        _ = midBody.partArrived(isHead: true)
        midBody.headAccepted(.init(hasBody: true), at: t0)
        #expect(midBody.parserError(connectionActive: true) == .abandonAndClose)
        var behind = forwarding()
        _ = behind.endArrived(at: t0)
        #expect(behind.parserError(connectionActive: true) == .none)
        #expect(behind.closeAfterExchange)
    }

    @Test("a refusal during admission keeps the connection only when the request is complete")
    func refusalDuringAdmission() {
        var complete = Machine()
        _ = complete.partArrived(isHead: true)
        complete.headAccepted(.init(), at: t0)
        _ = complete.endArrived(at: t0)
        #expect(complete.refuse() == .refuse(.answer(.init(keepAlive: true, after: .nextRequest))))
        var bodyless = Machine()
        _ = bodyless.partArrived(isHead: true)
        bodyless.headAccepted(.init(), at: t0)
        #expect(bodyless.refuse() == .refuse(.answer(.init(keepAlive: true, after: .discardRest))))
        #expect(bodyless.endArrived(at: t0) == .nextRequest)
    }

    @Test("which deadline applies, and its instant, after each event")
    func deadlines() {
        let facts = Machine.RequestFacts(responseHeaderTimeout: .seconds(30), idleTimeout: .seconds(5))
        var machine = Machine(headTimeout: .seconds(10), keepAliveTimeout: .seconds(60))
        #expect(machine.accepted(at: t0) == .armTimer)
        #expect(machine.wait == .head, "a new connection's first request is due promptly")
        #expect(machine.deadline == t0 + .seconds(10))
        #expect(!machine.awaitsHeadBytes, "the accept started the head's clock")

        _ = machine.partArrived(isHead: true)
        machine.headAccepted(facts, at: t0 + .seconds(1))
        #expect(machine.wait == .admission)
        #expect(machine.deadline == t0 + .seconds(31), "admission counts from the head's arrival")
        _ = machine.endArrived(at: t0 + .seconds(1))
        _ = machine.admitted()
        #expect(machine.deadline == nil, "connecting: the pool's connect timeout bounds it")
        _ = machine.upstreamConnected(reused: false, at: t0 + .seconds(2))
        #expect(machine.wait == .responseHead)
        #expect(machine.deadline == t0 + .seconds(32), "the response head counts from the request fully sent")
        _ = machine.responseHead(status: 200, at: t0 + .seconds(3))
        #expect(machine.wait == .idle)
        #expect(machine.deadline == t0 + .seconds(8))
        _ = machine.responseBodyArrived(at: t0 + .seconds(4))
        #expect(machine.deadline == t0 + .seconds(9), "bytes moving push the idle deadline")
        #expect(machine.deadlinePassed(at: t0 + .seconds(8)) == .armTimer, "an early wake-up only re-arms")
        _ = machine.responseEnd(reusable: true)
        #expect(machine.awaitingRequest(since: t0 + .seconds(5)) == .armTimer)
        #expect(machine.wait == .keepAlive)
        #expect(machine.deadline == t0 + .seconds(65))
        #expect(machine.awaitsHeadBytes)
        #expect(machine.headBytesArrived(at: t0 + .seconds(20)) == .armTimer)
        #expect(machine.wait == .head)
        #expect(machine.deadline == t0 + .seconds(30))
        #expect(machine.headBytesArrived(at: t0 + .seconds(21)) == .none, "only a head's first bytes start its clock")
        #expect(machine.deadlinePassed(at: t0 + .seconds(30)) == .requestTimeout)
        #expect(machine.current == .closed)
    }

    @Test("an idle keep-alive connection closes at its deadline; an exchange's wait times out with an answer")
    func deadlinesExpire() {
        var idle = Machine(keepAliveTimeout: .seconds(60))
        _ = idle.accepted(at: t0)
        _ = idle.partArrived(isHead: true)
        idle.headAccepted(.init(), at: t0)
        _ = idle.endArrived(at: t0)
        #expect(idle.refuse() == .refuse(.answer(.init(keepAlive: true, after: .nextRequest))))
        #expect(idle.awaitingRequest(since: t0 + .seconds(1)) == .armTimer)
        #expect(idle.deadlinePassed(at: t0 + .seconds(60)) == .armTimer)
        #expect(idle.deadlinePassed(at: t0 + .seconds(61)) == .close)

        var slow = forwarding(.init(responseHeaderTimeout: .seconds(30)))
        _ = slow.endArrived(at: t0)
        #expect(slow.deadlinePassed(at: t0 + .seconds(30)) == .timedOut(.responseHead, .answer(.init(keepAlive: true, after: .nextRequest))))
    }
}
