import Foundation
import Logging
import PelletProviders
import PelletRouter
import PelletWire
import Synchronization

/// Keeps ``ModelDiscoveryState`` up to date: reads every enabled provider's model list at
/// ``run(every:)``'s interval, takes "model not found" answers from Complete calls
/// (``markUnavailable(model:provider:)``), logs each change once, and hands the router and
/// Health the result.
///
/// The router asks for ``unavailableModels()`` on every Route and Complete call; that read takes
/// no lock while every pair is available or unknown (one atomic load), and only a short one to
/// copy the (copy-on-write) table while some pair is not.
public final class ModelDiscovery: Sendable {
    public typealias ListModels = @Sendable (ProviderConfiguration) async -> Result<ListedModels, ModelListError>

    private struct Shared: Sendable {
        /// Every change to it (an inout mutation through the lock included) drops `rows`.
        var state: ModelDiscoveryState {
            didSet { rows = nil }
        }
        /// Health's `models`, built from `state` when first asked for after a change: Health
        /// is asked often and the state changes rarely, and building the rows sorts every
        /// catalogue pair (it was a third of a Health call's CPU).
        var rows: [ModelAvailability]?
        var unavailable: [ProviderName: Set<String>] = [:]
        /// Whose lists are read; replaced with the catalogue by ``reconfigure(catalogue:directory:)``.
        var directory: ProviderDirectory
    }

    private let shared: SharedState<Shared>
    /// Whether `shared.unavailable` is non-empty; written under the lock, read without it.
    private let anyUnavailable = Atomic<Bool>(false)
    private let listModels: ListModels
    private let wallClockMs: @Sendable () -> UInt64
    private let logger: Logger

    /// - Parameter listModels: reads one provider's list; pelletd passes the engine's
    ///   ``ProviderEngine/listModels(provider:timeout:)``, unit tests a closure of their own.
    public init(
        catalogue: Catalogue,
        directory: ProviderDirectory,
        wallClockMs: @escaping @Sendable () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) },
        logger: Logger,
        listModels: @escaping ListModels
    ) {
        self.shared = SharedState(Shared(state: ModelDiscoveryState(catalogue: catalogue), directory: directory))
        self.listModels = listModels
        self.wallClockMs = wallClockMs
        self.logger = logger
    }

    /// Reads the lists through `engine`, each transfer limited to `listTimeout`.
    public convenience init(
        catalogue: Catalogue,
        directory: ProviderDirectory,
        engine: ProviderEngine,
        listTimeout: Duration = .seconds(10),
        logger: Logger
    ) {
        self.init(catalogue: catalogue, directory: directory, logger: logger) { provider in
            await engine.listModels(provider: provider, timeout: listTimeout)
        }
    }

    /// Refreshes now, then every `interval`, until the task is cancelled.
    public func run(every interval: Duration) async {
        while !Task.isCancelled {
            await refresh()
            try? await Task.sleep(for: interval)
        }
    }

    /// Reads every enabled provider's list (at once) and applies each that could be read.
    public func refresh() async {
        let directory = shared.withLock { $0.directory }
        let enabled = directory.configurations.values.filter(\.isEnabled).sorted { $0.name < $1.name }
        await withTaskGroup(of: Void.self) { group in
            for configuration in enabled {
                group.addTask { [self] in
                    let result = await listModels(configuration)
                    apply(result, from: configuration.name)
                }
            }
        }
    }

    /// A reloaded catalogue and its providers: pairs both catalogues have keep their state (a
    /// retired model stays skipped), new pairs are unknown until the next read, which the caller
    /// starts with ``refresh()``.
    public func reconfigure(catalogue: Catalogue, directory: ProviderDirectory) {
        shared.withLock { shared in
            shared.state = shared.state.reloaded(with: catalogue)
            shared.directory = directory
            // Pairs may have gone with the old catalogue.
            shared.unavailable = shared.state.unavailableModels
            anyUnavailable.store(!shared.unavailable.isEmpty, ordering: .releasing)
        }
    }

    /// A chat call on the pair was answered "model not found": skip it until the next list read.
    public func markUnavailable(model: String, provider: String, reason: String) {
        guard let name = ProviderName(rawValue: provider) else { return }
        let now = wallClockMs()
        let pair = ModelDiscoveryState.Pair(model: model, provider: name)
        let change = update { $0.markUnavailable(pair, reason: reason, nowUnixMs: now).map { [$0] } ?? [] }
        log(change)
    }

    /// The router's input: catalogue model ids per provider that are unavailable now.
    public func unavailableModels() -> [ProviderName: Set<String>] {
        guard anyUnavailable.load(ordering: .acquiring) else { return [:] }
        return shared.withLock { $0.unavailable }
    }

    /// Health's `models`: every catalogue pair with its state.
    public func healthRows() -> [ModelAvailability] {
        shared.withLock { shared in
            if let rows = shared.rows { return rows }
            let rows = shared.state.rows
            shared.rows = rows
            return rows
        }
    }

    /// The state as it is now (tests).
    public var state: ModelDiscoveryState {
        shared.withLock { $0.state }
    }

    private func apply(_ result: Result<ListedModels, ModelListError>, from name: ProviderName) {
        let provider = name
        switch result {
        case .success(let listed):
            let now = wallClockMs()
            log(update { $0.applyList(listed.ids, from: name, nowUnixMs: now) })
            log(shared.withLock { $0.state.applyPrices(listed.prices, from: name) })
        case .failure(let error):
            // The last known state stands: a provider's list endpoint failing says nothing about
            // its models, and retiring them all on a hiccup would move every call elsewhere.
            logger.notice(
                "could not read a provider's model list; its models keep their last known state",
                metadata: ["provider": "\(provider)", "error": "\(error)"])
        }
    }

    private func update(_ body: (inout ModelDiscoveryState) -> [ModelDiscoveryState.Change]) -> [ModelDiscoveryState.Change] {
        shared.withLock { shared in
            let changes = body(&shared.state)
            if changes.contains(where: { $0.from == .unavailable || $0.to == .unavailable }) {
                shared.unavailable = shared.state.unavailableModels
                anyUnavailable.store(!shared.unavailable.isEmpty, ordering: .releasing)
            }
            return changes
        }
    }

    /// A listed price that differs from the catalogue's is a warning, once per change: billing
    /// keeps the catalogue's price, so an operator must decide whether the catalogue is stale.
    private func log(_ changes: [ModelDiscoveryState.PriceChange]) {
        for change in changes {
            let metadata: Logger.Metadata = [
                "model": "\(change.pair.model)", "provider": "\(change.pair.provider)",
                "provider_model": "\(change.providerModel)",
                "catalogue_input_micro_usd_per_mtok": "\(change.catalogueInput)",
                "catalogue_output_micro_usd_per_mtok": "\(change.catalogueOutput)",
                "listed_input_micro_usd_per_mtok": "\(change.listed.inputMicroUSDPerMillionTokens.map { "\($0)" } ?? "none")",
                "listed_output_micro_usd_per_mtok": "\(change.listed.outputMicroUSDPerMillionTokens.map { "\($0)" } ?? "none")",
            ]
            if change.differs {
                logger.warning(
                    "the provider's listed price differs from the catalogue's; calls are still billed at the catalogue's",
                    metadata: metadata)
            } else {
                logger.notice("the provider's listed price agrees with the catalogue's again", metadata: metadata)
            }
        }
    }

    private func log(_ changes: [ModelDiscoveryState.Change]) {
        for change in changes {
            let metadata: Logger.Metadata = [
                "model": "\(change.pair.model)", "provider": "\(change.pair.provider)",
                "provider_model": "\(change.providerModel)", "reason": "\(change.reason)",
            ]
            switch (change.from, change.to) {
            case (_, .unavailable):
                logger.warning("model unavailable on a provider: the router skips this pair", metadata: metadata)
            case (.unavailable, .available):
                logger.warning("model available again on a provider: the router uses this pair again", metadata: metadata)
            default:
                // unknown → available: the first successful read, the normal case.
                logger.debug("model available on a provider", metadata: metadata)
            }
        }
    }
}

/// State behind an `NSLock` (a pthread mutex) rather than `Synchronization.Mutex`: on Linux
/// ThreadSanitizer does not see the hand-over in `Mutex`'s contended (futex) path and reports
/// false races, as it did here under `tools/test --sanitize` (PelletStore's `LockedState` says the
/// same). Discovery runs every few minutes, so the lock's cost does not matter.
///
/// `@unchecked Sendable` is safe because `state` is only read or written inside `withLock`.
private final class SharedState<State>: @unchecked Sendable {
    private let lock = NSLock()
    private var state: State

    init(_ state: State) {
        self.state = state
    }

    func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }
}
