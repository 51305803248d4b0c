import NIOCore
import PelletRouter
import PelletStore
import PelletWire

/// A Complete call's admission once routed: the budget's hold (in cluster mode within this
/// node's leased share, waiting for a refill if need be), the rate limit (this node's, then in
/// cluster mode the cluster's), then the call itself.
extension CompleteService {
    /// What a call has been found to be once authenticated and routed, before its admission.
    /// Unchecked: while the call waits for a lease it only passes through the leases' thread,
    /// and is used on the call's event loop alone.
    struct Admission: @unchecked Sendable {
        let request: CompleteRequest
        let maxTokens: UInt32
        let setup: CatalogueSetup
        let decision: RouteDecision
        let account: Account
        let key: ApiKey
        let estimate: UInt64
        let start: NIODeadline
    }

    struct Refusal: Error {
        let error: RPCError
        var budgetError: BudgetError? = nil
    }

    /// Holds the call's worst case of the account's budget. `mayWait`: a refusal by this node's
    /// share of the budget (cluster mode) is not final yet, the call will wait for a refill.
    func reserve(_ admission: Admission, mayWait: Bool) -> Result<Reservation, Refusal> {
        do {
            return .success(
                try metering.reserve(
                    accountID: admission.account.id, budgetMicroUSD: admission.account.monthlyBudgetMicroUsd,
                    estimateMicroUSD: admission.estimate))
        } catch let error as BudgetError {
            // A refusal that waits for the cluster is counted once, when it is final.
            if !(mayWait && error.isLeaseLimited && metering.budgetLeases != nil) {
                metrics?.recordBudgetRefusal()
            }
            return .failure(
                Refusal(
                    error: RPCError(.resourceExhausted, error.description, retryAfterMs: UInt32(clamping: error.retryAfterMs)),
                    budgetError: error))
        } catch {
            return .failure(Refusal(error: RPCError(storeError: error)))
        }
    }

    /// The account's rate limit (this node's, then the cluster's), then the call.
    func limitRate(_ admission: Admission, reservation: Reservation, context: CallContext) -> CallOutcome {
        let account = admission.account
        // After the budget check, so that a call the budget refuses does not use up a slot.
        if case .failure(let limited) = rateLimiter.acquire(accountID: account.id, rpm: account.rateLimitRpm) {
            return refuseRate(reservation, limited)
        }
        guard account.rateLimitRpm > 0, let rateLeases else { return begin(admission, reservation, context) }
        switch rateLeases.acquire(accountID: account.id, rpm: account.rateLimitRpm) {
        case .admitted:
            return begin(admission, reservation, context)
        case .refused(let retryAfterMs):
            return refuseRate(reservation, RateLimitExceeded(retryAfterMs: retryAfterMs, requestsPerMinute: account.rateLimitRpm))
        case .unavailable:
            return refuseUnshared(reservation)
        case .needsLease:
            // Once per chunk of the minute's allowance: one round trip to the cluster database.
            let loop = context.eventLoop
            let promise = loop.makePromise(of: (any WireMessage).self)
            rateLeases.waitForLease(accountID: account.id, rpm: account.rateLimitRpm) { decision in
                loop.execute {
                    let outcome: CallOutcome
                    switch decision {
                    case .admitted:
                        outcome = self.begin(admission, reservation, context)
                    case .refused(let retryAfterMs):
                        outcome = self.refuseRate(
                            reservation, RateLimitExceeded(retryAfterMs: retryAfterMs, requestsPerMinute: account.rateLimitRpm))
                    case .unavailable, .needsLease:
                        outcome = self.refuseUnshared(reservation)
                    }
                    self.complete(promise, with: outcome)
                }
            }
            return .pending(promise.futureResult)
        }
    }

    func refuseRate(_ reservation: Reservation, _ limited: RateLimitExceeded) -> CallOutcome {
        metering.release(reservation)
        metrics?.recordRateLimited()
        return .failure(
            RPCError(.resourceExhausted, limited.description, retryAfterMs: UInt32(clamping: limited.retryAfterMs)))
    }

    /// Fail closed: a rate limit the cluster shares is not checked alone.
    func refuseUnshared(_ reservation: Reservation) -> CallOutcome {
        metering.release(reservation)
        return .failure(
            RPCError(
                .unavailable,
                "the cluster database cannot be reached to share the account's rate limit; try again shortly",
                retryAfterMs: 1_000))
    }

    func complete(_ promise: EventLoopPromise<any WireMessage>, with outcome: CallOutcome) {
        switch outcome {
        case .reply(let message): promise.succeed(message)
        case .failure(let error): promise.fail(error)
        case .pending(let future): future.cascade(to: promise)
        }
    }

    /// Calls the provider: the call is admitted and holds its reservation.
    func begin(_ admission: Admission, _ reservation: Reservation, _ context: CallContext) -> CallOutcome {
        let promise = context.eventLoop.makePromise(of: (any WireMessage).self)
        let call = CompleteCall(
            service: self,
            setup: admission.setup,
            request: admission.request,
            maxTokens: admission.maxTokens,
            decision: admission.decision,
            accountID: admission.account.id,
            keyID: admission.key.id,
            reservation: reservation,
            context: context,
            start: admission.start,
            unixMs: wallClockMs(),
            promise: promise
        )
        let bound = NIOLoopBound(call, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        context.cancellation.onCancel { reason in
            if loop.inEventLoop {
                bound.value.cancel(reason)
            } else {
                loop.execute { bound.value.cancel(reason) }
            }
        }
        if context.isStreaming {
            context.onWritabilityChange { writable in bound.value.clientWritabilityChanged(writable) }
        }
        call.nextAttempt()
        return .pending(promise.futureResult)
    }
}
