import NIOCore

// Admission on an HTTP/1 connection: the rules are the `Admission` value's; the handler
// starts it for a new exchange and carries out its steps. A cached answer and a current
// token admit at once; a miss waits, reads paused (except for a body the gateway reads
// itself) and under the admission deadline, for the lookup's outcome, delivered on this
// event loop. The lookups run on the control plane (the profiles' loops); none starts a
// task here.
extension ProxyHandler {
    /// Starts admission for a new exchange.
    func admit(_ exchange: Exchange) {
        let route = exchange.plan.route
        if route.login == nil, route.validation == nil, route.credential == nil {
            // Nothing to check and nothing to inject (a plain reverse-proxy route): the
            // value would admit at once, so none is made.
            admitted(exchange)
            return
        }
        var admission = Admission(route: exchange.plan.route, bearer: exchange.plan.bearer, login: exchange.plan.login)
        var clock = AdmissionClock.live
        let step = admission.start(clock: &clock, tokenKeys: &tokenKeys)
        carryOut(step, of: &admission, for: exchange)
    }

    /// Obtains the route's credential again, then admits (after an upstream 401, to retry
    /// with a fresh token): the caller's identity and response fields stay as they were.
    func authorize(_ exchange: Exchange) {
        var admission = Admission(route: exchange.plan.route, bearer: exchange.plan.bearer, login: exchange.plan.login)
        var clock = AdmissionClock.live
        let step = admission.reauthorize(clock: &clock)
        carryOut(step, of: &admission, for: exchange)
    }

    /// Whether `exchange` is still the one waiting for admission (a late answer for an
    /// exchange that timed out or whose client left is dropped).
    func isAdmitting(_ exchange: Exchange) -> Bool {
        exchange === self.exchange && machine.isAdmitting
    }

    /// A lookup's outcome arrived: the waiting admission goes on with it.
    private func resumeAdmission(_ exchange: Exchange, with outcome: Admission.Outcome) {
        guard isAdmitting(exchange), var admission = exchange.admission else { return }
        exchange.admission = nil
        var clock = AdmissionClock.live
        let step = admission.resume(outcome, clock: &clock)
        carryOut(step, of: &admission, for: exchange)
    }

    /// Carries out admission's steps until it admits, refuses or has to wait: a lookup
    /// answered at once (a cache filled meanwhile, a full queue) resumes it here.
    /// `step` is consumed: a copy of it (a grant's arrays and strings) costs on every request.
    private func carryOut(_ step: consuming Admission.Step, of admission: inout Admission, for exchange: Exchange) {
        while true {
            // Consumed, so the cases take their payloads rather than copy them.
            switch consume step {
            case .admit(let grant):
                if let credential = grant.credential { exchange.inject(credential) }
                if let identity = grant.identity {
                    exchange.subject = identity.subject
                    exchange.clientID = identity.clientID
                    exchange.identityFields = identity.fields
                }
                if !grant.responseFields.isEmpty { exchange.responseFields = grant.responseFields }
                admitted(exchange)
                return
            case .refuse(let answer):
                noteCaller(admission, on: exchange)
                refuseExchange(answer)
                return
            case .wait(let lookup):
                noteCaller(admission, on: exchange)
                // Kept on the exchange before the lookup is issued, for its outcome to find.
                exchange.admission = admission
                switch issue(lookup, for: exchange) {
                case .pending:
                    armTimer()
                    return
                case .detached:
                    exchange.admission = nil
                    return
                case .settled(let outcome):
                    exchange.admission = nil
                    var clock = AdmissionClock.live
                    step = admission.resume(outcome, clock: &clock)
                }
            }
        }
    }

    /// The caller validated so far, for the access log of an answer that is not an
    /// admission (the credential unavailable, the wait for it timed out).
    private func noteCaller(_ admission: Admission, on exchange: Exchange) {
        guard let caller = admission.caller else { return }
        exchange.subject = caller.subject
        exchange.clientID = caller.clientID
    }

    /// What issuing a lookup came to.
    private enum Issued {
        /// Answered at once.
        case settled(Admission.Outcome)
        /// The outcome comes later, through the waiter.
        case pending
        /// The handler has left its pipeline: nobody to answer.
        case detached
    }

    /// Issues `lookup` for `exchange`: to its profile with a waiter that comes back on this
    /// event loop, or, for the request body, to the connection itself.
    private func issue(_ lookup: Admission.Lookup, for exchange: Exchange) -> Issued {
        switch lookup {
        case .jwt(let profile, let parsed, let token, let key):
            guard let waiter = waiter(for: exchange, { (lookup: JWTProfile.Lookup) in .jwt(lookup) }) else { return .detached }
            let outcome = profile.validate(parsed, token: token, key: key, waiter: waiter)
            if case .pending = outcome { return .pending }
            return .settled(.jwt(outcome))
        case .introspection(let profile, let token, let key):
            guard let waiter = waiter(for: exchange, { (lookup: IntrospectionProfile.Lookup) in .introspection(lookup) }) else { return .detached }
            let outcome = profile.lookup(token, key: key, waiter: waiter)
            if case .pending = outcome { return .pending }
            return .settled(.introspection(outcome))
        case .credential(let profile):
            guard let waiter = waiter(for: exchange, { (lookup: CredentialProfile.Lookup) in .credential(lookup) }) else { return .detached }
            let outcome = profile.lookup(waiter: waiter)
            if case .pending = outcome { return .pending }
            return .settled(.credential(outcome))
        case .sessionRefresh(let profile, let session):
            guard let waiter = waiter(for: exchange, { (result: LoginProfile.RefreshResult) in .sessionRefresh(result) }) else { return .detached }
            switch profile.refresh(session, waiter: waiter) {
            case .result(let result): return .settled(.sessionRefresh(result))
            case .pending: return .pending
            }
        case .providerMetadata(let profile):
            guard let waiter = waiter(for: exchange, { (_: Bool) in .providerMetadata(waited: true) }) else { return .detached }
            if profile.idTokens.whenFirstFetchSettles({ waiter(true) }) { return .pending }
            return .settled(.providerMetadata(waited: false))
        case .codeExchange(let profile, let codeExchange):
            guard let waiter = waiter(for: exchange, { (outcome: LoginOutcome) in .codeExchange(outcome) }) else { return .detached }
            if let refused = profile.submitCodeExchange(codeExchange, reply: waiter) { return .settled(.codeExchange(refused)) }
            return .pending
        case .backchannelLogout(let profile, let token):
            guard let waiter = waiter(for: exchange, { (outcome: LoginProfile.BackchannelOutcome) in .backchannelLogout(outcome) }) else { return .detached }
            if let refused = profile.submitBackchannelLogout(token, reply: waiter) { return .settled(.backchannelLogout(refused)) }
            return .pending
        case .sharedSession(let profile, let id):
            guard let waiter = waiter(for: exchange, { (read: FleetStore.SessionRead) in .sharedSession(read) }) else { return .detached }
            if let read = profile.loadSession(id, waiter: waiter) { return .settled(.sharedSession(read)) }
            return .pending
        case .requestBody(let limit):
            return readBody(of: exchange, limit: limit)
        }
    }

    /// The gateway answers this request itself and needs its body: copied into one buffer
    /// as it arrives (with any part already held, never kept as read-buffer slices), read
    /// while admitting, within `limit` bytes; the outcome is the whole body.
    private func readBody(of exchange: Exchange, limit: Int) -> Issued {
        guard let context else { return .detached }
        exchange.readsBodyItself(limit: limit, allocator: context.channel.allocator)
        if machine.requestEnded { return .settled(.requestBody(exchange.ownBody?.buffer)) }
        // Weak both ways: the exchange holds this closure, so a strong capture of it would be
        // a cycle that outlives a client who never sends the end (found by LeakSanitizer).
        exchange.onRequestEnd = { [weak self, weak exchange] in
            guard let self, let exchange else { return }
            self.resumeAdmission(exchange, with: .requestBody(exchange.ownBody?.buffer))
        }
        machine.gatewayReadsBody(limit: limit)
        resumeClientReads()
        return .pending
    }

    /// A waiter for a control-plane lookup: the answer comes back on this connection's
    /// event loop (it arrives on the control plane's thread) and resumes the exchange's
    /// admission, as `wrap` makes it an outcome. Nil once the handler has left its pipeline.
    private func waiter<Answer: Sendable>(
        for exchange: Exchange, _ wrap: @escaping @Sendable (Answer) -> Admission.Outcome
    ) -> (@Sendable (Answer) -> Void)? {
        guard let context else { return nil }
        let bound = NIOLoopBound((handler: self, exchange: exchange), eventLoop: context.eventLoop)
        return { answer in
            let outcome = wrap(answer)
            bound.eventLoop.execute {
                let value = bound.value
                value.handler.resumeAdmission(value.exchange, with: outcome)
            }
        }
    }
}
