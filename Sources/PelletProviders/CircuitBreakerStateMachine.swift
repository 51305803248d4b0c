/// Settings of a provider's ``CircuitBreaker``.
public struct CircuitBreakerConfiguration: Sendable, Hashable {
    /// Consecutive failures that open the circuit.
    public var failureThreshold: Int
    /// The first wait before a half-open probe; doubles on each failed probe...
    public var initialCooldown: Duration
    /// ...up to this.
    public var maximumCooldown: Duration
    /// A half-open probe not reported within this is presumed lost, and another is allowed.
    public var probeTimeout: Duration
    /// How long a 429 without `Retry-After` keeps the provider out.
    public var defaultRateLimitDelay: Duration
    /// The cap on a provider's `Retry-After`.
    public var maximumRateLimitDelay: Duration
    /// A misconfigured provider (401/403) gets one probe call this often, in case its key was fixed
    /// upstream or the refusal was transient.
    public var misconfiguredRecheckInterval: Duration
    /// A closed circuit reads `degraded` at this error rate or above (over the outcome window).
    public var degradedErrorRate: Double
    /// Outcomes the error rate is computed over.
    public var outcomeWindow: Int
    /// Successful latencies the p50 is computed over.
    public var latencyWindow: Int

    public init(
        failureThreshold: Int = 5,
        initialCooldown: Duration = .seconds(1),
        maximumCooldown: Duration = .seconds(60),
        probeTimeout: Duration = .seconds(30),
        defaultRateLimitDelay: Duration = .seconds(1),
        maximumRateLimitDelay: Duration = .seconds(60),
        misconfiguredRecheckInterval: Duration = .seconds(300),
        degradedErrorRate: Double = 0.2,
        outcomeWindow: Int = 100,
        latencyWindow: Int = 128
    ) {
        self.failureThreshold = max(1, failureThreshold)
        self.initialCooldown = initialCooldown
        self.maximumCooldown = max(initialCooldown, maximumCooldown)
        self.probeTimeout = probeTimeout
        self.defaultRateLimitDelay = defaultRateLimitDelay
        self.maximumRateLimitDelay = maximumRateLimitDelay
        self.misconfiguredRecheckInterval = misconfiguredRecheckInterval
        self.degradedErrorRate = degradedErrorRate
        self.outcomeWindow = max(1, outcomeWindow)
        self.latencyWindow = max(1, latencyWindow)
    }
}

/// A provider's health as Health reports it (the strings of `ProviderHealth.state`).
public enum ProviderState: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Closed circuit, low error rate.
    case healthy
    /// Serving, but failing lately, or rate limited.
    case degraded
    /// The circuit is open (or half-open, letting a probe through): calls are not sent.
    case open
    /// No API key: never called.
    case disabled
    /// The provider refused the key (401/403): skipped.
    case misconfigured

    public var description: String { rawValue }
}

/// Whether a call may go to the provider now.
public enum Admission: Sendable, Hashable {
    /// Send it.
    case allowed
    /// Send it: it is the one probe of a half-open (or misconfigured) circuit. Its outcome
    /// closes or reopens the circuit, so it must be recorded (a neutral outcome frees the slot).
    case probe
    /// Do not send it; the provider may be tried again at this moment.
    case rejected(until: ContinuousClock.Instant?)

    public var isAllowed: Bool {
        if case .rejected = self { return false }
        return true
    }
}

/// The circuit breaker and health figures of one provider, as a value type driven by an explicit
/// clock: every method takes `now`. ``CircuitBreaker`` puts it behind a lock.
///
/// Closed: calls flow; `failureThreshold` consecutive failures open the circuit. Open: calls
/// are rejected until the cooldown passes, then one probe goes through (half-open). The probe's
/// success closes the circuit and resets the cooldown; its failure reopens it with the cooldown
/// doubled, up to `maximumCooldown`. Rate limiting (429) and misconfiguration (401/403) keep
/// the provider out for their own durations without touching the circuit.
public struct CircuitBreakerStateMachine: Sendable {
    private enum Circuit: Sendable, Hashable {
        case closed(consecutiveFailures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen(probeSentAt: ContinuousClock.Instant?)
    }

    public let configuration: CircuitBreakerConfiguration
    public let isEnabled: Bool
    private var circuit = Circuit.closed(consecutiveFailures: 0)
    /// The cooldown the next opening uses.
    private var cooldown: Duration
    private var rateLimitedUntil: ContinuousClock.Instant?
    /// Set while misconfigured: when the last refusal (or recheck probe) happened.
    private var misconfiguredAt: ContinuousClock.Instant?
    private var misconfiguredProbeSentAt: ContinuousClock.Instant?
    private var outcomes: RingBuffer<Bool>
    private var latencies: RingBuffer<UInt32>
    private var cachedMedian: (value: UInt32, computedAt: ContinuousClock.Instant)?

    public init(configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(), isEnabled: Bool = true) {
        self.configuration = configuration
        self.isEnabled = isEnabled
        self.cooldown = configuration.initialCooldown
        self.outcomes = RingBuffer(capacity: configuration.outcomeWindow)
        self.latencies = RingBuffer(capacity: configuration.latencyWindow)
    }

    // MARK: - Calls

    /// Asks to send a call. A `.probe` answer reserves the half-open probe slot.
    public mutating func admit(now: ContinuousClock.Instant) -> Admission {
        guard isEnabled else { return .rejected(until: nil) }
        if let misconfiguredAt {
            if let sent = misconfiguredProbeSentAt, now < sent + configuration.probeTimeout {
                return .rejected(until: sent + configuration.probeTimeout)
            }
            let recheck = misconfiguredAt + configuration.misconfiguredRecheckInterval
            guard now >= recheck else { return .rejected(until: recheck) }
            misconfiguredProbeSentAt = now
            return .probe
        }
        if let until = rateLimitedUntil {
            if now < until { return .rejected(until: until) }
            rateLimitedUntil = nil
        }
        switch circuit {
        case .closed:
            return .allowed
        case .open(let until):
            guard now >= until else { return .rejected(until: until) }
            circuit = .halfOpen(probeSentAt: now)
            return .probe
        case .halfOpen(let sent):
            if let sent, now < sent + configuration.probeTimeout {
                return .rejected(until: sent + configuration.probeTimeout)
            }
            circuit = .halfOpen(probeSentAt: now)
            return .probe
        }
    }

    /// A call succeeded; `latency` feeds the p50.
    public mutating func recordSuccess(latency: Duration, now: ContinuousClock.Instant) {
        outcomes.append(false)
        latencies.append(UInt32(clamping: latency.roundedUpMilliseconds))
        cachedMedian = nil
        misconfiguredAt = nil
        misconfiguredProbeSentAt = nil
        circuit = .closed(consecutiveFailures: 0)
        cooldown = configuration.initialCooldown
    }

    /// A call failed; what it does depends on the failure's kind (see ``ProviderFailure``).
    public mutating func recordFailure(_ failure: ProviderFailure, now: ContinuousClock.Instant) {
        switch failure.kind {
        case .misconfigured:
            outcomes.append(true)
            misconfiguredAt = now
            misconfiguredProbeSentAt = nil
        case .rateLimited:
            outcomes.append(true)
            let delay = min(
                failure.retryAfter ?? configuration.defaultRateLimitDelay, configuration.maximumRateLimitDelay)
            rateLimitedUntil = now + delay
            releaseProbe()
        case _ where !failure.countsAsProviderFailure:
            releaseProbe()
        default:
            outcomes.append(true)
            if misconfiguredAt != nil {
                // A recheck probe that failed otherwise: stays misconfigured until a success.
                misconfiguredAt = now
                misconfiguredProbeSentAt = nil
                return
            }
            switch circuit {
            case .closed(let failures):
                if failures + 1 >= configuration.failureThreshold {
                    open(now: now)
                } else {
                    circuit = .closed(consecutiveFailures: failures + 1)
                }
            case .halfOpen:
                cooldown = min(cooldown * 2, configuration.maximumCooldown)
                open(now: now)
            case .open:
                break  // a call admitted before the circuit opened
            }
        }
    }

    private mutating func open(now: ContinuousClock.Instant) {
        circuit = .open(until: now + cooldown)
    }

    /// A probe whose outcome says nothing about the provider (cancelled, the caller's fault)
    /// frees the slot for the next call.
    private mutating func releaseProbe() {
        if case .halfOpen = circuit {
            circuit = .halfOpen(probeSentAt: nil)
        }
        misconfiguredProbeSentAt = nil
    }

    // MARK: - Health

    public func state(now: ContinuousClock.Instant) -> ProviderState {
        guard isEnabled else { return .disabled }
        if misconfiguredAt != nil { return .misconfigured }
        switch circuit {
        case .open, .halfOpen:
            return .open
        case .closed(let failures):
            if let until = rateLimitedUntil, now < until { return .degraded }
            if failures > 0 || (outcomes.count > 0 && errorRate >= configuration.degradedErrorRate) {
                return .degraded
            }
            return .healthy
        }
    }

    /// The circuit alone, as the metrics' `pellet_circuit_state` reports it: 0 closed, 1
    /// half-open (the cooldown has passed: a probe may go, or is out), 2 open.
    public func circuitLevel(now: ContinuousClock.Instant) -> Int {
        switch circuit {
        case .closed: 0
        case .halfOpen: 1
        case .open(let until): now >= until ? 1 : 2
        }
    }

    /// Failures over the last `outcomeWindow` calls (0 with no calls yet).
    public var errorRate: Double {
        guard outcomes.count > 0 else { return 0 }
        return Double(outcomes.elements.lazy.filter { $0 }.count) / Double(outcomes.count)
    }

    /// The median latency of the last `latencyWindow` successful calls, in milliseconds (0 with
    /// none). Sorting is cached for 100 ms, so frequent readers (the router) stay cheap.
    public mutating func latencyP50Milliseconds(now: ContinuousClock.Instant) -> UInt32 {
        if let cached = cachedMedian, now - cached.computedAt < .milliseconds(100) {
            return cached.value
        }
        let sorted = latencies.elements.sorted()
        let median = sorted.isEmpty ? 0 : sorted[(sorted.count - 1) / 2]
        cachedMedian = (median, now)
        return median
    }

    /// Whether ``state(now:)`` is `healthy` and stays so as time passes, until the next call to
    /// a mutating method: a closed circuit with no failures in a row, a low error rate, and no
    /// rate limit (which alone makes the state depend on the clock).
    public var isSettledHealthy: Bool {
        // `state(now:)` returning `healthy`, without the clock.
        guard isEnabled, misconfiguredAt == nil, rateLimitedUntil == nil,
            case .closed(consecutiveFailures: 0) = circuit
        else { return false }
        return outcomes.count == 0 || errorRate < configuration.degradedErrorRate
    }

    /// Whether ``state(now:)`` may change with the clock alone (a rate limit that expires).
    public var dependsOnClock: Bool { rateLimitedUntil != nil }

    /// Forgets a rate limit that has ended, as ``admit(now:)`` does, so that the state no longer
    /// depends on the clock (and can be settled healthy again without a call). Returns whether
    /// it did.
    public mutating func forgetEndedRateLimit(now: ContinuousClock.Instant) -> Bool {
        guard let until = rateLimitedUntil, now >= until else { return false }
        rateLimitedUntil = nil
        return true
    }

    /// The current consecutive failures of a closed circuit (0 otherwise).
    public var consecutiveFailures: Int {
        if case .closed(let failures) = circuit { return failures }
        return 0
    }
}

/// A fixed-capacity ring that keeps the most recent elements.
struct RingBuffer<Element: Sendable>: Sendable {
    private var storage: [Element] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        storage.reserveCapacity(capacity)
    }

    var count: Int { storage.count }
    /// In no particular order.
    var elements: [Element] { storage }

    mutating func append(_ element: Element) {
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[next] = element
        }
        next = (next + 1) % capacity
    }
}
