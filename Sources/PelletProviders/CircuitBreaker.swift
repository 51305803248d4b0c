import PelletWire
import Synchronization

/// One provider's circuit breaker and health figures, safe to use from any thread.
///
/// The Complete call asks ``admit()`` before each attempt and reports every attempt's outcome
/// with ``recordSuccess(latency:)`` or ``recordFailure(_:)``; the router and Health read
/// ``snapshot()``. The logic is ``CircuitBreakerStateMachine``; this class adds the lock and
/// the clock (injectable for tests).
public final class CircuitBreaker: Sendable {
    public let provider: ProviderName
    private let machine: LockedState<CircuitBreakerStateMachine>
    private let now: @Sendable () -> ContinuousClock.Instant
    /// What every change publishes, for readers that take no lock (``published``): a change
    /// count shifted left by 2, bit 0 set when the state is settled healthy, bit 1 set when the
    /// state depends on the clock. Written only under the machine's lock.
    private let publishedBits = Atomic<UInt64>(0)

    public init(
        provider: ProviderName,
        isEnabled: Bool,
        configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.provider = provider
        self.machine = LockedState(CircuitBreakerStateMachine(configuration: configuration, isEnabled: isEnabled))
        self.now = now
        publish(CircuitBreakerStateMachine(configuration: configuration, isEnabled: isEnabled), after: 0)
    }

    /// Whether an attempt may go to the provider now (see ``Admission``).
    public func admit() -> Admission {
        let now = now()
        return change { $0.admit(now: now) }
    }

    public func recordSuccess(latency: Duration) {
        let now = now()
        change { $0.recordSuccess(latency: latency, now: now) }
    }

    public func recordFailure(_ failure: ProviderFailure) {
        let now = now()
        change { $0.recordFailure(failure, now: now) }
    }

    /// A lock-free look at the breaker, for readers on every call (the router's health input,
    /// Health's rows): `generation` changes with every change to the breaker, so a reader may
    /// keep what it derived from the breaker while the generation stays the same, unless
    /// `dependsOnClock`.
    public struct Published: Sendable, Hashable {
        public var generation: UInt64
        /// ``CircuitBreakerStateMachine/isSettledHealthy``: ``state()`` is `healthy` until the
        /// next change.
        public var isSettledHealthy: Bool
        /// ``CircuitBreakerStateMachine/dependsOnClock``.
        public var dependsOnClock: Bool
    }

    /// Set under the lock by the change that made it true, so a breaker that opens is seen
    /// here by the next reader.
    public var published: Published {
        let bits = publishedBits.load(ordering: .acquiring)
        return Published(generation: bits >> 2, isSettledHealthy: bits & 1 != 0, dependsOnClock: bits & 2 != 0)
    }

    /// Whether ``state()`` is `healthy` until the next change, read without the lock.
    public var isSettledHealthy: Bool {
        publishedBits.load(ordering: .acquiring) & 1 != 0
    }

    private func change<Result>(_ body: (inout CircuitBreakerStateMachine) -> Result) -> Result {
        machine.withLock { machine in
            let result = body(&machine)
            publish(machine, after: publishedBits.load(ordering: .relaxed) >> 2)
            return result
        }
    }

    /// Called under the lock (or from `init`, before anyone else can see the breaker).
    private func publish(_ machine: CircuitBreakerStateMachine, after generation: UInt64) {
        let bits = (generation &+ 1) << 2 | (machine.isSettledHealthy ? 1 : 0) | (machine.dependsOnClock ? 2 : 0)
        publishedBits.store(bits, ordering: .releasing)
    }

    /// The state alone: what the router needs on every call, without the latency median.
    public func state() -> ProviderState {
        let now = now()
        return machine.withLock { machine in
            // Without this, a provider once rate limited would keep the router off its fast path
            // until the next call to it.
            if machine.forgetEndedRateLimit(now: now) {
                publish(machine, after: publishedBits.load(ordering: .relaxed) >> 2)
            }
            return machine.state(now: now)
        }
    }

    /// 0 closed, 1 half-open, 2 open (``CircuitBreakerStateMachine/circuitLevel(now:)``).
    public func circuitLevel() -> Int {
        let now = now()
        return machine.withLock { $0.circuitLevel(now: now) }
    }

    public func snapshot() -> ProviderHealthSnapshot {
        let now = now()
        return machine.withLock { machine in
            ProviderHealthSnapshot(
                provider: provider,
                state: machine.state(now: now),
                errorRate: machine.errorRate,
                latencyP50Milliseconds: machine.latencyP50Milliseconds(now: now)
            )
        }
    }
}

/// A provider's health at one moment: the router's health input and the Health call's row.
public struct ProviderHealthSnapshot: Sendable, Hashable {
    public var provider: ProviderName
    public var state: ProviderState
    /// Failures over the recent calls, 0...1.
    public var errorRate: Double
    public var latencyP50Milliseconds: UInt32

    public init(provider: ProviderName, state: ProviderState, errorRate: Double, latencyP50Milliseconds: UInt32) {
        self.provider = provider
        self.state = state
        self.errorRate = errorRate
        self.latencyP50Milliseconds = latencyP50Milliseconds
    }

    /// Whether the router should consider the provider at all (`healthy` or `degraded`).
    public var isRoutable: Bool {
        state == .healthy || state == .degraded
    }

    /// The Health call's message.
    public var wire: ProviderHealth {
        ProviderHealth(
            name: provider.rawValue,
            state: state.rawValue,
            errorRate: Float(errorRate),
            latencyP50Ms: latencyP50Milliseconds
        )
    }
}

/// Every provider's configuration and breaker: built at start-up, and again at each catalogue
/// reload (``init(configurations:reusing:breakerConfiguration:now:)``), when a provider whose
/// endpoint did not change keeps its breaker, so that a reload never closes an open circuit.
public final class ProviderDirectory: Sendable {
    public let configurations: [ProviderName: ProviderConfiguration]
    private let breakers: [ProviderName: CircuitBreaker]
    /// Every provider's breaker, in name order.
    private let ordered: [CircuitBreaker]
    /// ``wireHealth()``'s last rows and the breakers' ``CircuitBreaker/published`` they were
    /// built from (one each, in `ordered`'s order).
    private let encodedRows = Mutex<(published: [CircuitBreaker.Published], rows: [ProviderHealth])?>(nil)

    public init(
        configurations: [ProviderConfiguration],
        reusing previous: ProviderDirectory? = nil,
        breakerConfiguration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        var byName: [ProviderName: ProviderConfiguration] = [:]
        for configuration in configurations { byName[configuration.name] = configuration }
        self.configurations = byName
        var breakers: [ProviderName: CircuitBreaker] = [:]
        for (name, configuration) in byName {
            if let previous, previous.configurations[name] == configuration, let kept = previous.breakers[name] {
                breakers[name] = kept
            } else {
                breakers[name] = CircuitBreaker(
                    provider: name, isEnabled: configuration.isEnabled, configuration: breakerConfiguration, now: now)
            }
        }
        self.breakers = breakers
        self.ordered = breakers.keys.sorted().map { breakers[$0]! }
    }

    /// Every provider's name, in name order.
    public var names: [ProviderName] { ordered.map(\.provider) }

    public func configuration(for name: ProviderName) -> ProviderConfiguration? {
        configurations[name]
    }

    /// The provider's breaker; nil for a provider this directory was not given (a catalogue
    /// offer can only name one it was: pelletd builds both from the same catalogue).
    public func breaker(for name: ProviderName) -> CircuitBreaker? {
        breakers[name]
    }

    /// Every provider, in name order.
    public func health() -> [ProviderHealthSnapshot] {
        ordered.map { $0.snapshot() }
    }

    /// Whether every provider's state is `healthy` until its breaker's next change: the
    /// router's health input is then the same on every call. Takes no lock.
    public var isEverySettledHealthy: Bool {
        ordered.allSatisfy(\.isSettledHealthy)
    }

    /// ``health()`` as the Health call's rows. A row is built again only when its breaker has
    /// changed since (or its state depends on the clock), so a Health call on a quiet gateway
    /// takes one lock and builds nothing.
    public func wireHealth() -> [ProviderHealth] {
        // Read before the snapshots: a change in between leaves a newer row under an older
        // generation, which the next call rebuilds.
        let published = ordered.map(\.published)
        return encodedRows.withLock { cache in
            if let cached = cache, zip(cached.published, published).allSatisfy({ $0 == $1 && !$1.dependsOnClock }) {
                return cached.rows
            }
            var rows: [ProviderHealth] = []
            rows.reserveCapacity(ordered.count)
            for (index, breaker) in ordered.enumerated() {
                if let cached = cache, cached.published[index] == published[index], !published[index].dependsOnClock {
                    rows.append(cached.rows[index])
                } else {
                    rows.append(breaker.snapshot().wire)
                }
            }
            cache = (published, rows)
            return rows
        }
    }
}
