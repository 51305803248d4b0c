import PelletWire

/// What the provider engine knows about each provider at the moment of a decision.
///
/// The router never measures anything itself: the engine (PelletProviders) keeps this snapshot up
/// to date and hands the current value to every `route` call. Providers it says nothing about are
/// healthy with the catalogue's typical latency.
public struct ProviderHealthSnapshot: Sendable, Equatable {
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// Serving normally.
        case healthy
        /// Serving, but with errors or slow answers: still a candidate, ranked after healthy ones.
        case degraded
        /// The circuit breaker is open: not a candidate until it closes.
        case open
        /// Switched off by configuration (no API key, or turned off by an operator).
        case disabled

        var isAvailable: Bool { self == .healthy || self == .degraded }
    }

    /// Measured latency that replaces the catalogue's typical figures.
    public struct Latency: Sendable, Equatable {
        public var timeToFirstTokenMs: UInt32?
        public var outputTokensPerSecond: Double?

        public init(timeToFirstTokenMs: UInt32? = nil, outputTokensPerSecond: Double? = nil) {
            self.timeToFirstTokenMs = timeToFirstTokenMs
            self.outputTokensPerSecond = outputTokensPerSecond
        }
    }

    public struct Provider: Sendable, Equatable {
        public var state: State
        /// Live figures for the provider as a whole (used for every model it serves that has no
        /// figures of its own below).
        public var latency: Latency
        /// Live figures per catalogue model id; they take precedence over `latency`.
        public var modelLatency: [String: Latency]
        /// Catalogue model ids this provider does not serve now: its model list (discovery) does
        /// not name them, or a chat call was answered "model not found". Not candidates on this
        /// provider; the model's other providers still are. Empty when every pair is available or
        /// unknown.
        public var unavailableModels: Set<String>

        public init(
            state: State = .healthy,
            latency: Latency = Latency(),
            modelLatency: [String: Latency] = [:],
            unavailableModels: Set<String> = []
        ) {
            self.state = state
            self.latency = latency
            self.modelLatency = modelLatency
            self.unavailableModels = unavailableModels
        }
    }

    public var providers: [ProviderName: Provider]

    public init(providers: [ProviderName: Provider] = [:]) {
        self.providers = providers
    }

    /// Every provider healthy, catalogue latency: the default before the engine reports anything.
    public static let allHealthy = ProviderHealthSnapshot()

    public func state(of provider: ProviderName) -> State {
        providers[provider]?.state ?? .healthy
    }

    public mutating func setState(_ state: State, for provider: ProviderName) {
        providers[provider, default: Provider()].state = state
    }

    /// Marks the (model, provider) pair as not served now (`Provider.unavailableModels`).
    public mutating func setUnavailable(model: String, on provider: ProviderName) {
        providers[provider, default: Provider()].unavailableModels.insert(model)
    }

    public func isAvailable(model: String, on provider: ProviderName) -> Bool {
        providers[provider].map { !$0.unavailableModels.contains(model) } ?? true
    }

    /// The latency to expect from `offer`: live figures where `reported` (this snapshot's entry
    /// for the offer's provider, looked up once per decision) has any, else the catalogue's
    /// typical ones. `modelIDs` is only read when the provider reports figures per model.
    static func expectedLatency(
        of offer: RoutingTable.Offer,
        reported: Provider?,
        modelIDs: [String]
    ) -> (timeToFirstTokenMs: Double, tokensPerSecond: Double) {
        var ttft = Double(offer.timeToFirstTokenMs)
        var speed = offer.outputTokensPerSecond
        if let provider = reported {
            let specific = provider.modelLatency.isEmpty ? nil : provider.modelLatency[modelIDs[offer.modelIndex]]
            if let live = specific?.timeToFirstTokenMs ?? provider.latency.timeToFirstTokenMs { ttft = Double(live) }
            if let live = specific?.outputTokensPerSecond ?? provider.latency.outputTokensPerSecond, live > 0 {
                speed = live
            }
        }
        return (ttft, speed)
    }
}
