import PelletProviders
import PelletRouter
import PelletWire

/// Which catalogue (model, provider) pairs each provider serves now, as discovery and failed
/// calls have found: the logic of ``ModelDiscovery``, a value type with the time passed in, so
/// it is tested without sockets or clocks.
///
/// Every pair starts `unknown` (nothing read yet: the router keeps it as a candidate). A model
/// list that names the pair's provider model id makes it `available`; one that does not makes it
/// `unavailable` (the router skips it, the model's other providers stay candidates). A chat call
/// answered "model not found" makes it `unavailable` at once; the next list read decides again.
/// A list that cannot be read changes nothing: the last known state stands.
public struct ModelDiscoveryState: Sendable, Equatable {
    public enum State: String, Sendable, Hashable {
        case unknown, available, unavailable
    }

    public struct Pair: Sendable, Hashable, Comparable, CustomStringConvertible {
        /// The catalogue model id.
        public var model: String
        public var provider: ProviderName

        public init(model: String, provider: ProviderName) {
            self.model = model
            self.provider = provider
        }

        public static func < (lhs: Pair, rhs: Pair) -> Bool {
            (lhs.model, lhs.provider.rawValue) < (rhs.model, rhs.provider.rawValue)
        }

        public var description: String { "\(model) on \(provider)" }
    }

    public struct Entry: Sendable, Equatable {
        /// The id the provider knows the model by (the offer's `providerModel`).
        public var providerModel: String
        public var state: State
        /// When the pair entered `state` (unix ms); 0 while `unknown`.
        public var sinceUnixMs: UInt64
        /// The catalogue's prices, which billing uses (micro-USD per million tokens).
        public var catalogueInput: UInt64 = 0
        public var catalogueOutput: UInt64 = 0
        /// What the provider's model list publishes for the model, as last read; nil when it
        /// publishes nothing (most providers) or was not read yet.
        public var listedPrice: ListedPrice?

        /// The list publishes a price that is not the catalogue's.
        public var priceDiffers: Bool {
            guard let listedPrice else { return false }
            if let input = listedPrice.inputMicroUSDPerMillionTokens, input != catalogueInput { return true }
            if let output = listedPrice.outputMicroUSDPerMillionTokens, output != catalogueOutput { return true }
            return false
        }
    }

    /// A pair whose listed price started or stopped differing from the catalogue's, or changed
    /// while it differs: for the log, once per change.
    public struct PriceChange: Sendable, Equatable {
        public var pair: Pair
        public var providerModel: String
        public var catalogueInput: UInt64
        public var catalogueOutput: UInt64
        public var listed: ListedPrice
        /// False: the list agrees with the catalogue again.
        public var differs: Bool
    }

    /// A pair that moved from one state to another, for the log.
    public struct Change: Sendable, Equatable {
        public var pair: Pair
        public var providerModel: String
        public var from: State
        public var to: State
        /// "not in the provider's model list", "the provider answered model not found", ...
        public var reason: String
    }

    public private(set) var entries: [Pair: Entry]

    /// Every offer of the catalogue, `unknown`.
    public init(catalogue: Catalogue) {
        var entries: [Pair: Entry] = [:]
        for model in catalogue.models {
            for offer in model.offers {
                entries[Pair(model: model.id, provider: offer.provider)] = Entry(
                    providerModel: offer.providerModel, state: .unknown, sinceUnixMs: 0,
                    catalogueInput: offer.inputMicroUSDPerMillionTokens,
                    catalogueOutput: offer.outputMicroUSDPerMillionTokens)
            }
        }
        self.entries = entries
    }

    /// The state for `catalogue` after a reload: a pair this state has, with the same provider
    /// model id, keeps what is known about it; every other pair starts `unknown`, and pairs the
    /// new catalogue drops are gone.
    public func reloaded(with catalogue: Catalogue) -> ModelDiscoveryState {
        var next = ModelDiscoveryState(catalogue: catalogue)
        for (pair, entry) in next.entries {
            if let known = entries[pair], known.providerModel == entry.providerModel {
                // The availability carries over; the prices are the new catalogue's.
                next.entries[pair]?.state = known.state
                next.entries[pair]?.sinceUnixMs = known.sinceUnixMs
                next.entries[pair]?.listedPrice = known.listedPrice
            }
        }
        return next
    }

    public func state(of pair: Pair) -> State {
        entries[pair]?.state ?? .unknown
    }

    /// Applies a model list read from `provider`: each of its pairs becomes `available` when
    /// `ids` names its provider model id, else `unavailable`.
    public mutating func applyList(_ ids: Set<String>, from provider: ProviderName, nowUnixMs: UInt64) -> [Change] {
        var changes: [Change] = []
        for (pair, entry) in entries where pair.provider == provider {
            let listed = ids.contains(entry.providerModel)
            let reason = listed ? "listed by the provider" : "not in the provider's model list"
            if let change = set(pair, to: listed ? .available : .unavailable, reason: reason, nowUnixMs: nowUnixMs) {
                changes.append(change)
            }
        }
        return changes.sorted { $0.pair < $1.pair }
    }

    /// Takes the prices `provider`'s list publishes (by provider model id) and returns the pairs
    /// whose comparison with the catalogue changed. Billing never uses these prices: they are
    /// only compared, so that a catalogue gone stale is noticed.
    public mutating func applyPrices(_ prices: [String: ListedPrice], from provider: ProviderName) -> [PriceChange] {
        var changes: [PriceChange] = []
        for (pair, entry) in entries where pair.provider == provider {
            let listed = prices[entry.providerModel]
            guard listed != entry.listedPrice else { continue }
            let before = entry.priceDiffers
            entries[pair]?.listedPrice = listed
            guard let after = entries[pair], let listed else { continue }
            if after.priceDiffers || before {
                changes.append(
                    PriceChange(
                        pair: pair, providerModel: entry.providerModel, catalogueInput: entry.catalogueInput,
                        catalogueOutput: entry.catalogueOutput, listed: listed, differs: after.priceDiffers))
            }
        }
        return changes.sorted { $0.pair < $1.pair }
    }

    /// A chat call on the pair was answered "model not found" (or 404): unavailable until a list
    /// names it again. Nil when it already was (or the pair is not in the catalogue).
    public mutating func markUnavailable(_ pair: Pair, reason: String, nowUnixMs: UInt64) -> Change? {
        set(pair, to: .unavailable, reason: reason, nowUnixMs: nowUnixMs)
    }

    /// The router's input (`ProviderHealthSnapshot.Provider.unavailableModels`): catalogue model
    /// ids per provider that are `unavailable`. Providers with none are left out.
    public var unavailableModels: [ProviderName: Set<String>] {
        var result: [ProviderName: Set<String>] = [:]
        for (pair, entry) in entries where entry.state == .unavailable {
            result[pair.provider, default: []].insert(pair.model)
        }
        return result
    }

    /// Health's `models`, by model then provider.
    public var rows: [ModelAvailability] {
        entries.sorted { $0.key < $1.key }.map { pair, entry in
            ModelAvailability(
                model: pair.model, provider: pair.provider.rawValue, state: entry.state.rawValue,
                sinceUnixMs: entry.sinceUnixMs, catalogueInputMicroUsdPerMtok: entry.catalogueInput,
                catalogueOutputMicroUsdPerMtok: entry.catalogueOutput,
                listedInputMicroUsdPerMtok: entry.listedPrice?.inputMicroUSDPerMillionTokens ?? 0,
                listedOutputMicroUsdPerMtok: entry.listedPrice?.outputMicroUSDPerMillionTokens ?? 0,
                priceDiffers: entry.priceDiffers)
        }
    }

    private mutating func set(_ pair: Pair, to state: State, reason: String, nowUnixMs: UInt64) -> Change? {
        guard var entry = entries[pair], entry.state != state else { return nil }
        let change = Change(pair: pair, providerModel: entry.providerModel, from: entry.state, to: state, reason: reason)
        entry.state = state
        entry.sinceUnixMs = nowUnixMs
        entries[pair] = entry
        return change
    }
}
