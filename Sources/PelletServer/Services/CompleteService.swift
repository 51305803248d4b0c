import Foundation
import Logging
import NIOCore
import PelletProviders
import PelletRouter
import PelletStore
import PelletWire

/// Limits of the Complete call's provider attempts (`pelletd` flags).
public struct CompleteSettings: Sendable {
    /// Most provider attempts per call (the primary and its fallbacks).
    public var maximumAttempts: Int
    /// The `max_tokens` sent to the provider when the request sets none: every attempt carries
    /// one, so that every call's cost is bounded by what its reservation holds.
    public var defaultMaxTokens: UInt32
    /// For streams: the longest wait for the first token; nil: only the deadline.
    public var firstTokenTimeout: Duration?
    /// For streams: the longest silence between chunks; nil: only the deadline.
    public var idleTimeout: Duration?

    public static let standardDefaultMaxTokens: UInt32 = 1_024

    public init(
        maximumAttempts: Int = 3,
        defaultMaxTokens: UInt32 = CompleteSettings.standardDefaultMaxTokens,
        firstTokenTimeout: Duration? = nil,
        idleTimeout: Duration? = nil
    ) {
        self.maximumAttempts = max(1, maximumAttempts)
        self.defaultMaxTokens = max(1, defaultMaxTokens)
        self.firstTokenTimeout = firstTokenTimeout
        self.idleTimeout = idleTimeout
    }
}

/// Method 2: authenticate, route, rate limit, reserve budget, call the provider (with fallbacks),
/// settle the metering, answer. Streams deltas as MESSAGE frames when the caller asked for it.
///
/// Money is safe under failure: every attempt sends the provider an explicit `max_tokens`, the
/// budget reserves the worst case of every candidate (the prompt estimate at the input price plus
/// `max_tokens` at the output price), the charge never passes the reservation, a call whose
/// metering cannot be committed is not answered OK, and while the store cannot take writes new
/// calls are refused before any provider is called (fail closed).
///
/// Everything of one call runs on its connection's event loop: the provider engine delivers the
/// transfer's events there, and in `batched` durability the metering event is committed there
/// too while the store's writer is idle (else the writer commits it in a group and hands the
/// answer back). Prompt and completion text never leave memory.
public struct CompleteService: Service {
    /// The catalogue and providers; each call reads it once, at its start (a reload does not
    /// move a call in flight).
    let live: LiveCatalogue
    let authenticator: Authenticator
    let metering: Metering
    let rateLimiter: RateLimiter
    /// Cluster mode: the account's rate limit shared with the other nodes; nil for a single pelletd.
    let rateLeases: (any RateLeasing)?
    let engine: ProviderEngine
    /// Pairs found unavailable (model lists, "model not found" answers); nil: none tracked.
    let discovery: ModelDiscovery?
    let settings: CompleteSettings
    /// Where each call's time in the gateway goes (`ServerMetrics.gatewayOverhead`, for Health).
    let gatewayOverhead: RecentLatencies
    /// The metrics' figures of attempts, tokens, cost and refusals; nil: not recorded.
    let metrics: CompleteMetrics?
    /// Calls not yet settled, which shutdown waits for before the store closes.
    let unsettled: UnsettledCalls
    let wallClockMs: @Sendable () -> UInt64
    let logger: Logger

    /// A fixed catalogue and set of providers.
    public init(
        router: Router,
        authenticator: Authenticator,
        metering: Metering,
        rateLimiter: RateLimiter,
        engine: ProviderEngine,
        directory: ProviderDirectory,
        discovery: ModelDiscovery? = nil,
        settings: CompleteSettings = CompleteSettings(),
        gatewayOverhead: RecentLatencies = RecentLatencies(),
        metrics: CompleteMetrics? = nil,
        unsettled: UnsettledCalls = UnsettledCalls(),
        wallClockMs: @escaping @Sendable () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) },
        logger: Logger = Logger(label: "pellet.complete")
    ) {
        self.init(
            live: LiveCatalogue(router: router, directory: directory), authenticator: authenticator,
            metering: metering, rateLimiter: rateLimiter, engine: engine, discovery: discovery, settings: settings,
            gatewayOverhead: gatewayOverhead, metrics: metrics, unsettled: unsettled, wallClockMs: wallClockMs,
            logger: logger)
    }

    /// The catalogue and providers `live` holds when each call starts.
    public init(
        live: LiveCatalogue,
        authenticator: Authenticator,
        metering: Metering,
        rateLimiter: RateLimiter,
        rateLeases: (any RateLeasing)? = nil,
        engine: ProviderEngine,
        discovery: ModelDiscovery? = nil,
        settings: CompleteSettings = CompleteSettings(),
        gatewayOverhead: RecentLatencies = RecentLatencies(),
        metrics: CompleteMetrics? = nil,
        unsettled: UnsettledCalls = UnsettledCalls(),
        wallClockMs: @escaping @Sendable () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) },
        logger: Logger = Logger(label: "pellet.complete")
    ) {
        self.live = live
        self.authenticator = authenticator
        self.metering = metering
        self.rateLimiter = rateLimiter
        self.rateLeases = rateLeases
        self.engine = engine
        self.discovery = discovery
        self.settings = settings
        self.gatewayOverhead = gatewayOverhead
        self.metrics = metrics
        self.unsettled = unsettled
        self.wallClockMs = wallClockMs
        self.logger = logger
    }

    public var streams: Bool { true }

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let start = NIODeadline.now()
        let request: CompleteRequest
        do {
            request = try CompleteRequest(decoding: payload)
        } catch {
            return .failure(RPCError(.invalidArgument, "Complete request: \(error.description)"))
        }
        if let invalid = Self.invalidSampling(request) {
            return .failure(invalid)
        }
        let account: Account
        let key: ApiKey
        do {
            guard case .apiKey(let found, let owner) = try authenticator.apiKeyCaller(request.credentials) else {
                return .failure(RPCError(.unauthenticated, "this call needs an API key in credentials.api_key"))
            }
            key = found
            account = owner
        } catch {
            return .failure(error)
        }
        // A refusal below (budget, rate limit, a full store) is logged with whose call it was.
        context.annotations?.describe(requestID: "", accountID: account.id, keyID: key.id)
        // Fail closed: a call that could not be metered is not made at all.
        if let refusal = metering.store.writeRefusal {
            metering.store.probeWritesIfRefusing()
            return .failure(.completeRefused(refusal))
        }
        let maxTokens = request.maxTokens > 0 ? request.maxTokens : settings.defaultMaxTokens

        // Read once: the call keeps this catalogue and these providers to its end.
        let setup = live.current
        let decision: RouteDecision
        do {
            decision = try setup.router.route(
                RouteRequest(
                    messages: request.messages,
                    model: request.model,
                    preference: request.preference,
                    // The router's cost estimates are then each candidate's worst case.
                    maxTokens: maxTokens,
                    taskHint: request.taskHint,
                    providers: request.providers
                ),
                health: setup.directory.routerHealth(
                    openAsDegraded: true, unavailableModels: discovery?.unavailableModels() ?? [:])
            )
        } catch {
            return .failure(error)
        }

        // The worst case of whichever candidate ends up answering.
        let estimate = ([decision.estCostMicroUsd] + decision.fallbacks.map(\.estCostMicroUsd)).max() ?? 0
        let admission = Admission(
            request: request, maxTokens: maxTokens, setup: setup, decision: decision, account: account, key: key,
            estimate: estimate, start: start)
        switch reserve(admission, mayWait: true) {
        case .success(let reservation):
            return limitRate(admission, reservation: reservation, context: context)
        case .failure(let refusal):
            // Cluster mode: this node's share of the budget is spent, the cluster may have more.
            // The call waits (bounded) for a refill, never on its event loop's thread.
            guard let budgetError = refusal.budgetError, budgetError.isLeaseLimited,
                let leases = metering.budgetLeases
            else { return .failure(refusal.error) }
            let loop = context.eventLoop
            let promise = loop.makePromise(of: (any WireMessage).self)
            leases.refill(
                accountID: account.id, budgetMicroUSD: account.monthlyBudgetMicroUsd, neededMicroUSD: estimate
            ) {
                loop.execute {
                    switch self.reserve(admission, mayWait: false) {
                    case .success(let reservation):
                        self.complete(promise, with: self.limitRate(admission, reservation: reservation, context: context))
                    case .failure(let refusal):
                        promise.fail(refusal.error)
                    }
                }
            }
            return .pending(promise.futureResult)
        }
    }

    /// INVALID_ARGUMENT for a temperature or top_p that no provider takes; nil when both are
    /// unset or in range (0 included: it is a value, sent as 0).
    static func invalidSampling(_ request: CompleteRequest) -> RPCError? {
        if let temperature = request.temperature, !(temperature.isFinite && (0...2).contains(temperature)) {
            return RPCError(.invalidArgument, "temperature must be between 0 and 2, not \(temperature)")
        }
        if let topP = request.topP, !(topP.isFinite && (0...1).contains(topP)) {
            return RPCError(.invalidArgument, "top_p must be between 0 and 1, not \(topP)")
        }
        return nil
    }
}
