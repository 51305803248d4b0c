import PelletWire

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

    public init(
        provider: ProviderName,
        isEnabled: Bool,
        configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.provider = provider
        self.machine = LockedState(CircuitBreakerStateMachine(configuration: configuration, isEnabled: isEnabled))
        self.now = now
    }

    /// Whether an attempt may go to the provider now (see ``Admission``).
    public func admit() -> Admission {
        let now = now()
        return machine.withLock { $0.admit(now: now) }
    }

    public func recordSuccess(latency: Duration) {
        let now = now()
        machine.withLock { $0.recordSuccess(latency: latency, now: now) }
    }

    public func recordFailure(_ failure: ProviderFailure) {
        let now = now()
        machine.withLock { $0.recordFailure(failure, now: now) }
    }

    /// The state alone: what the router needs on every call, without the latency median.
    public func state() -> ProviderState {
        let now = now()
        return machine.withLock { $0.state(now: now) }
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
}
