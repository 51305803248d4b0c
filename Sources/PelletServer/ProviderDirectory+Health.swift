import PelletProviders
import PelletRouter
import PelletWire

extension ProviderDirectory {
    /// The router's health input: each provider's breaker state.
    ///
    /// `openAsDegraded`: an open circuit (or a provider found misconfigured) is still a
    /// candidate, ranked last; the breaker's `admit()` then skips it until its cooldown (or its
    /// recheck interval) passes and lets the probe through.
    /// The Complete call routes this way, or a circuit that the router leaves out would never
    /// see the probe that closes it (the breaker reports `open` until a probe succeeds). The
    /// Route call keeps the faithful view (the default).
    /// `unavailableModels`: pairs not served now (``ModelDiscovery/unavailableModels()``).
    public func routerHealth(
        openAsDegraded: Bool = false,
        unavailableModels: [ProviderName: Set<String>] = [:]
    ) -> PelletRouter.ProviderHealthSnapshot {
        // The common case, without a lock or a dictionary built: every breaker healthy (and
        // staying so until it changes, which it publishes at once). The router reads a provider
        // left out as healthy with the catalogue's latency, as the full path's entry says.
        if isEverySettledHealthy {
            var snapshot = PelletRouter.ProviderHealthSnapshot.allHealthy
            for (name, models) in unavailableModels where !models.isEmpty && breaker(for: name) != nil {
                snapshot.setState(.healthy, for: name)
                snapshot.providers[name]?.unavailableModels = models
            }
            return snapshot
        }
        return fullRouterHealth(openAsDegraded: openAsDegraded, unavailableModels: unavailableModels)
    }

    /// ``routerHealth(openAsDegraded:unavailableModels:)`` built from every breaker's state
    /// (each under its lock): the path taken when some provider is not settled healthy.
    public func fullRouterHealth(
        openAsDegraded: Bool = false,
        unavailableModels: [ProviderName: Set<String>] = [:]
    ) -> PelletRouter.ProviderHealthSnapshot {
        var snapshot = PelletRouter.ProviderHealthSnapshot()
        for name in names {
            guard let breaker = breaker(for: name) else { continue }
            let state: PelletRouter.ProviderHealthSnapshot.State
            switch breaker.state() {
            case .healthy: state = .healthy
            case .degraded: state = .degraded
            case .open: state = openAsDegraded ? .degraded : .open
            case .disabled: state = .disabled
            // Like an open circuit: the breaker's `admit()` refuses it until its recheck is due.
            case .misconfigured: state = openAsDegraded ? .degraded : .disabled
            }
            snapshot.setState(state, for: name)
            if let models = unavailableModels[name] { snapshot.providers[name]?.unavailableModels = models }
        }
        return snapshot
    }

    /// The Health call's `providers` list (`HealthService(metrics:providers:)`).
    public func healthRows() -> [ProviderHealth] {
        wireHealth()
    }
}
