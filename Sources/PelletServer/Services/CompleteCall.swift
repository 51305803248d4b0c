import Foundation
import Logging
import NIOCore
import PelletProviders
import PelletRouter
import PelletStore
import PelletWire

/// One Complete call in flight: its attempts, what went to the caller, and its end. Lives on the
/// call's event loop only.
final class CompleteCall {
    private struct Candidate {
        let model: String
        let provider: String
    }

    private let service: CompleteService
    /// The catalogue and providers the call started with.
    private let setup: CatalogueSetup
    private let request: CompleteRequest
    /// Sent to the provider on every attempt: the request's, else the default.
    private let maxTokens: UInt32
    private let decision: RouteDecision
    private let accountID: String
    private let keyID: String
    private let reservation: Reservation
    private let context: CallContext
    private let start: NIODeadline
    private let unixMs: UInt64
    private let promise: EventLoopPromise<any WireMessage>
    private let requestID = RandomIdentifier.requestID()

    private var candidates: [Candidate]
    private var nextCandidate = 0
    private var attempts = 0
    /// "together: HTTP 500", for the UNAVAILABLE message.
    private var failures: [String] = []
    private var handle: TransferHandle?
    /// The attempt whose events are current; earlier attempts' late events are ignored.
    private var attemptSerial = 0
    private var attemptStart = NIODeadline.now()
    /// The time the provider transfers took, which the gateway overhead leaves out.
    private var providerNanoseconds: Int64 = 0
    private var current: Candidate?
    /// The metrics' series of `current`, resolved when its attempt starts.
    private var currentOffer: CompleteMetrics.Offer?
    /// Set once a non-empty delta went to the caller: no fallback after that.
    private var firstTokenAt: NIODeadline?
    /// Streams: ends the current attempt if no text came in time. The engine's own first-byte
    /// timer is not enough: providers send an empty role chunk or a keep-alive comment at once.
    private var firstTokenTimer: Scheduled<Void>?
    /// The attempt that the first-token timer cancelled: its `.cancelled` is that timeout.
    private var firstTokenTimeoutSerial = 0
    /// Unary calls only (the answer goes out whole).
    private var content = ""
    /// The estimate of the completion tokens streamed so far (for a provider that reports none).
    private var streamedTokenEstimate = 0
    private var cancelReason: RPCError?
    private var finished = false
    /// The client is not taking the stream: the transfer is paused until it drains, and the
    /// deadline or the stream idle timeout ends a call that never does.
    private var clientBehind = false

    init(
        service: CompleteService,
        setup: CatalogueSetup,
        request: CompleteRequest,
        maxTokens: UInt32,
        decision: RouteDecision,
        accountID: String,
        keyID: String,
        reservation: Reservation,
        context: CallContext,
        start: NIODeadline,
        unixMs: UInt64,
        promise: EventLoopPromise<any WireMessage>
    ) {
        self.service = service
        self.setup = setup
        self.request = request
        self.maxTokens = maxTokens
        self.decision = decision
        self.accountID = accountID
        self.keyID = keyID
        self.reservation = reservation
        self.context = context
        self.start = start
        self.unixMs = unixMs
        self.promise = promise
        self.candidates =
            [Candidate(model: decision.model, provider: decision.provider)]
            + decision.fallbacks.map { Candidate(model: $0.model, provider: $0.provider) }
        // Now, not at settlement: a call cut off before it settles (shutdown, a client gone) is
        // logged when it ends, and its line still says whose call it was.
        context.annotations?.describe(requestID: requestID, accountID: accountID, keyID: keyID)
        service.unsettled.begin()
    }

    // MARK: Attempts

    /// Starts the next candidate that may be called, or ends the call when none is left.
    func nextAttempt() {
        context.eventLoop.preconditionInEventLoop()
        guard !finished else { return }
        if let reason = cancelReason {
            return end(.failure(reason))
        }
        while nextCandidate < candidates.count, attempts < service.settings.maximumAttempts {
            let candidate = candidates[nextCandidate]
            nextCandidate += 1
            guard let name = ProviderName(rawValue: candidate.provider),
                let configuration = setup.directory.configuration(for: name), configuration.isEnabled,
                let breaker = setup.directory.breaker(for: name)
            else {
                failures.append("\(candidate.provider): disabled")
                continue
            }
            // The deadline first: an admitted half-open probe must be followed by an attempt.
            let remaining = context.deadline - NIODeadline.now()
            guard remaining > .zero else {
                return end(.failure(RPCError(.deadlineExceeded, "the call's deadline passed before a provider answered")))
            }
            guard breaker.admit().isAllowed else {
                failures.append("\(candidate.provider): skipped (\(breaker.snapshot().state))")
                continue
            }
            let providerModel =
                setup.catalogue.model(id: candidate.model)?.offer(on: name)?.providerModel ?? candidate.model
            let chat = ChatRequest(
                model: providerModel,
                messages: request.messages,
                maxTokens: maxTokens,
                temperature: request.temperature,
                topP: request.topP,
                stop: request.stop,
                stream: context.isStreaming
            )
            attempts += 1
            attemptSerial += 1
            attemptStart = NIODeadline.now()
            current = candidate
            currentOffer = service.metrics?.offer(provider: candidate.provider, model: candidate.model)
            let serial = attemptSerial
            handle = service.engine.startChat(
                chat,
                provider: configuration,
                timeout: .nanoseconds(remaining.nanoseconds),
                firstTokenTimeout: context.isStreaming ? service.settings.firstTokenTimeout : nil,
                idleTimeout: context.isStreaming ? service.settings.idleTimeout : nil,
                on: context.eventLoop
            ) { [self] event in
                received(event, serial: serial, breaker: breaker)
            }
            if clientBehind { handle?.setPaused(true) }
            if context.isStreaming, let firstTokenTimeout = service.settings.firstTokenTimeout {
                firstTokenTimer = context.eventLoop.assumeIsolated().scheduleTask(
                    in: .nanoseconds(Self.nanoseconds(firstTokenTimeout))
                ) { [self] in
                    firstTokenTimeoutPassed(serial: serial)
                }
            }
            return
        }
        let listed = failures.isEmpty ? "no provider could be tried" : failures.joined(separator: "; ")
        end(.failure(RPCError(.unavailable, "every attempt failed: \(listed)")))
    }

    private func firstTokenTimeoutPassed(serial: Int) {
        guard serial == attemptSerial, !finished, firstTokenAt == nil, cancelReason == nil, let handle else { return }
        firstTokenTimeoutSerial = serial
        handle.cancel()
    }

    private func received(_ event: ChatResponseDecoder.Event, serial: Int, breaker: CircuitBreaker) {
        guard serial == attemptSerial, !finished else { return }
        switch event {
        case .delta(let text):
            guard !text.isEmpty, cancelReason == nil else { return }
            if firstTokenAt == nil {
                firstTokenAt = NIODeadline.now()
                firstTokenTimer?.cancel()
                firstTokenTimer = nil
            }
            streamedTokenEstimate += TokenEstimator.estimate(content: text)
            if context.isStreaming {
                context.sendMessage(CompleteChunk(delta: text))
            } else {
                content += text
            }
        case .completed(let completion):
            handle = nil
            firstTokenTimer?.cancel()
            let attemptTime = NIODeadline.now() - attemptStart
            // libcurl's own timing where there is one, so that the hops to and from the provider
            // thread count as the gateway's time.
            providerNanoseconds += completion.transferTime.map(Self.nanoseconds) ?? attemptTime.nanoseconds
            breaker.recordSuccess(latency: .nanoseconds(attemptTime.nanoseconds))
            if !context.isStreaming, !completion.content.isEmpty { content = completion.content }
            if firstTokenAt == nil, !completion.content.isEmpty { firstTokenAt = NIODeadline.now() }
            recordAttempt(failure: nil, nanoseconds: attemptTime.nanoseconds)
            complete(completion)
        case .failed(var failure):
            handle = nil
            firstTokenTimer?.cancel()
            providerNanoseconds += (NIODeadline.now() - attemptStart).nanoseconds
            if serial == firstTokenTimeoutSerial, failure.kind == .cancelled {
                failure = ProviderFailure(kind: .firstTokenTimeout, message: "no text within the first-token timeout")
            }
            breaker.recordFailure(failure)
            recordAttempt(failure: failure.kind, nanoseconds: (NIODeadline.now() - attemptStart).nanoseconds)
            let provider = current?.provider ?? "?"
            if let reason = cancelReason {
                return end(.failure(reason))
            }
            switch failure.kind {
            case .badRequest:
                return end(.failure(RPCError(.invalidArgument, "\(provider): \(failure.message)")))
            case .timedOut:
                return end(.failure(RPCError(.deadlineExceeded, "\(provider) did not answer within the call's deadline")))
            case .cancelled:
                return end(.failure(RPCError(.cancelled, "\(provider): \(failure.message)")))
            case .modelUnavailable:
                // The pair, not the provider: later calls skip it until discovery lists it again.
                if let current {
                    service.discovery?.markUnavailable(model: current.model, provider: current.provider, reason: failure.message)
                }
            default:
                break
            }
            failures.append("\(provider): \(Self.summary(failure))")
            if firstTokenAt != nil {
                return end(
                    .failure(
                        RPCError(
                            .unavailable,
                            "\(provider) failed after the stream began (\(Self.summary(failure))); no fallback is possible")))
            }
            nextAttempt()
        }
    }

    private func recordAttempt(failure: ProviderFailure.Kind?, nanoseconds: Int64) {
        guard let metrics = service.metrics, let currentOffer else { return }
        // A first token before this attempt began belongs to none: no fallback follows one.
        let firstToken = firstTokenAt.flatMap { $0 >= attemptStart ? ($0 - attemptStart).nanoseconds : nil }
        metrics.recordAttempt(currentOffer, failure: failure, nanoseconds: nanoseconds, firstToken: firstToken)
    }

    /// "HTTP 500", "timed out", ...: one attempt's failure in a few words.
    static func summary(_ failure: ProviderFailure) -> String {
        if let status = failure.httpStatus { return "HTTP \(status)" }
        switch failure.kind {
        case .timedOut: return "timed out"
        case .firstTokenTimeout: return "no first token in time"
        case .idleTimeout: return "stream went idle"
        case .connectionFailed: return "connection failed"
        case .malformedResponse: return "malformed response"
        case .incompleteStream: return "stream ended without [DONE]"
        case .misconfigured: return "misconfigured"
        default: return failure.message
        }
    }

    /// The caller cancelled, disconnected or ran out of time: stop the transfer; its `.failed`
    /// event ends and settles the call.
    func cancel(_ reason: RPCError) {
        guard !finished, cancelReason == nil else { return }
        cancelReason = reason
        if let handle {
            handle.cancel()
        } else {
            end(.failure(reason))
        }
    }

    func clientWritabilityChanged(_ writable: Bool) {
        clientBehind = !writable
        handle?.setPaused(!writable)
    }

    // MARK: Ending

    private func complete(_ completion: ChatCompletion) {
        let usage: TokenUsage
        var estimated = false
        if let reported = completion.usage {
            usage = reported
        } else {
            estimated = true
            let completionTokens =
                context.isStreaming ? streamedTokenEstimate : TokenEstimator.estimate(content: completion.content)
            usage = TokenUsage(
                promptTokens: UInt32(clamping: TokenEstimator.estimate(request.messages)),
                completionTokens: UInt32(clamping: completionTokens))
        }
        let cost = charge(for: usage)
        let latency = milliseconds(since: start)
        let response = CompleteResponse(
            requestId: requestID,
            content: context.isStreaming ? "" : content,
            finishReason: completion.finishReason,
            usage: usage,
            costMicroUsd: cost,
            route: decision,
            model: current?.model ?? decision.model,
            provider: current?.provider ?? decision.provider,
            latencyMs: latency,
            attempts: UInt32(attempts)
        )
        settle(status: .ok, usage: usage, estimated: estimated, cost: cost, latency: latency, result: .success(response))
    }

    private func end(_ result: Result<CompleteResponse, RPCError>) {
        guard !finished else { return }
        guard attempts > 0 else {
            finished = true
            context.annotations?.describe(requestID: requestID, accountID: accountID, keyID: keyID)
            context.callEnded()
            service.metering.release(reservation)
            service.unsettled.end()
            promise.completeWith(result.map { $0 as any WireMessage }.mapError { $0 as any Error })
            return
        }
        let status: Status
        switch result {
        case .success: status = .ok
        case .failure(let error): status = error.status
        }
        // Text that reached the caller is charged (estimated: the provider's usage never came).
        var usage = TokenUsage()
        var estimated = false
        if firstTokenAt != nil {
            estimated = true
            usage = TokenUsage(
                promptTokens: UInt32(clamping: TokenEstimator.estimate(request.messages)),
                completionTokens: UInt32(clamping: streamedTokenEstimate))
        }
        settle(
            status: status, usage: usage, estimated: estimated, cost: charge(for: usage),
            latency: milliseconds(since: start), result: result)
    }

    private func settle(
        status: Status, usage: TokenUsage, estimated: Bool, cost: UInt64, latency: UInt32,
        result: Result<CompleteResponse, RPCError>
    ) {
        guard !finished else { return }
        finished = true
        // The chunks go to the client now, not behind the settlement: when a provider read held
        // the last text and the stream's end together (a short answer, a fast provider), the
        // flush due at the end of this task came only after the metering commit made below on
        // this loop, and every chunk waited for it.
        if context.isStreaming, firstTokenAt != nil { context.flushMessages() }
        context.callEnded()
        let event = MeteringEvent(
            requestID: requestID,
            accountID: accountID,
            keyID: keyID,
            unixMs: unixMs,
            taskType: decision.taskType,
            model: current?.model ?? decision.model,
            provider: current?.provider ?? decision.provider,
            promptTokens: usage.promptTokens,
            completionTokens: usage.completionTokens,
            costMicroUSD: cost,
            latencyMs: latency,
            timeToFirstTokenMs: firstTokenAt.map { milliseconds(from: start, to: $0) } ?? 0,
            status: status.rawValue,
            attempts: UInt32(attempts),
            tokensEstimated: estimated,
            cachedPromptTokens: usage.cachedPromptTokens
        )
        if let currentOffer {
            service.metrics?.recordUsage(currentOffer, usage: usage, costMicroUSD: cost)
        }
        let annotations = context.annotations
        annotations?.describe(event)
        let logger = service.logger
        let metrics = service.metrics
        let requestID = self.requestID
        let answer = result.map { $0 as any WireMessage }.mapError { $0 as any Error }
        let gatewayOverhead = service.gatewayOverhead
        let callStart = start
        let providerNanoseconds = self.providerNanoseconds
        let promise = self.promise
        let unsettled = service.unsettled
        // The answer goes once the event is committed: from this loop when the commit was made
        // here, else from the writer thread. A task would add a hop into Swift's concurrency
        // pool and one out of it. Only a call alone in flight commits here (batched durability,
        // writer idle): it saves two wake-ups; with other calls in flight the writer's thread
        // commits alongside the loops and groups their events (measured faster at 8 in flight).
        let alone = unsettled.current <= 1
        service.metering.settle(reservation, recording: event, commitHere: alone) { recorded in
            var answer = answer
            if case .failure(let error) = recorded {
                logger.error(
                    "could not record a Complete call's metering",
                    metadata: ["request_id": "\(requestID)", "error": "\(error)"])
                // Fail closed: an unmetered call is never answered OK. A call that failed
                // anyway keeps its own, more telling error.
                if case .success = answer { answer = .failure(RPCError.meteringFailed(error)) }
            }
            // The metering write is the gateway's time: the answer waits for it.
            let inGateway = (NIODeadline.now() - callStart).nanoseconds - providerNanoseconds
            gatewayOverhead.record(microseconds: UInt64(max(0, inGateway) / 1_000))
            metrics?.recordOverhead(nanoseconds: inGateway)
            annotations?.overheadMicroseconds = UInt64(max(0, inGateway) / 1_000)
            unsettled.end()
            promise.completeWith(answer)
        }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// What the call is charged: its cost, but never more than its reservation. A provider
    /// cannot legitimately report more output tokens than the `max_tokens` it was sent, and the
    /// reservation is the worst case of that; past it the reservation is charged, and logged.
    private func charge(for usage: TokenUsage) -> UInt64 {
        let cost = self.cost(of: usage)
        guard cost > reservation.estimateMicroUSD else { return cost }
        service.logger.warning(
            "a Complete call cost more than its reservation; charged the reservation",
            metadata: [
                "request_id": "\(requestID)", "provider": "\(current?.provider ?? "?")",
                "model": "\(current?.model ?? "?")", "max_tokens": "\(maxTokens)",
                "usage.prompt_tokens": "\(usage.promptTokens)", "usage.completion_tokens": "\(usage.completionTokens)",
                "cost_micro_usd": "\(cost)", "reserved_micro_usd": "\(reservation.estimateMicroUSD)",
            ])
        return reservation.estimateMicroUSD
    }

    /// Tokens × the answering offer's prices, rounded up to the next micro-dollar.
    private func cost(of usage: TokenUsage) -> UInt64 {
        guard let candidate = current,
            let provider = ProviderName(rawValue: candidate.provider),
            let offer = setup.catalogue.model(id: candidate.model)?.offer(on: provider)
        else { return 0 }
        // Prompt tokens served from the provider's cache cost its cached-input price, where the
        // catalogue has one.
        let cached = UInt64(min(usage.cachedPromptTokens, usage.promptTokens))
        let numerator =
            (UInt64(usage.promptTokens) - cached) * offer.inputMicroUSDPerMillionTokens
            + cached * (offer.cachedInputMicroUSDPerMillionTokens ?? offer.inputMicroUSDPerMillionTokens)
            + UInt64(usage.completionTokens) * offer.outputMicroUSDPerMillionTokens
        return (numerator + 999_999) / 1_000_000
    }

    private func milliseconds(since start: NIODeadline) -> UInt32 {
        milliseconds(from: start, to: NIODeadline.now())
    }

    private func milliseconds(from start: NIODeadline, to end: NIODeadline) -> UInt32 {
        UInt32(clamping: max(0, (end - start).nanoseconds) / 1_000_000)
    }
}
