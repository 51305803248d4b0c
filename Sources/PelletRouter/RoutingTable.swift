import PelletWire

/// The catalogue as a decision reads it: every (model, provider) offer as plain values in one
/// array, and every model's quality scores in another. Built once per catalogue, so that a
/// decision copies no `CatalogueModel` (strings and arrays: reference counting on every access)
/// and hashes nothing to find an offer or a score.
struct RoutingTable: Sendable {
    /// One (model, provider) offer, with only what a decision uses.
    struct Offer: Sendable, Equatable {
        let modelIndex: Int
        /// The model id's position in id order (`Catalogue.nameRank`).
        let nameRank: Int
        /// The provider's position in `RoutingTable.providers` (name order, so comparing positions
        /// compares names): a plain integer, so ranking copies no string.
        let provider: Int
        let contextWindow: Int
        let inputMicroUSDPerMillionTokens: UInt64
        let outputMicroUSDPerMillionTokens: UInt64
        /// The model emits reasoning tokens, billed as output (`CatalogueModel.reasoning`).
        let reasoning: Bool
        let timeToFirstTokenMs: UInt32
        let outputTokensPerSecond: Double
    }

    /// The models in catalogue order and each model's offers in its own order: the order the
    /// candidates are built in.
    let offers: [Offer]
    /// `offers[offerRanges[m]]` are the offers of `models[m]`.
    let offerRanges: [Range<Int>]
    let modelIDs: [String]
    /// Every provider a request may name (`Catalogue.providers`), in name order.
    let providers: [ProviderName]
    /// Model-major, task types in `TaskType.allCases` order.
    private let scores: [Double]

    init(models: [CatalogueModel], nameRank: [Int], providers: [ProviderName]) {
        var offers: [Offer] = []
        var offerRanges: [Range<Int>] = []
        var scores: [Double] = []
        for (modelIndex, model) in models.enumerated() {
            let first = offers.count
            for offer in model.offers {
                offers.append(
                    Offer(
                        modelIndex: modelIndex,
                        nameRank: nameRank[modelIndex],
                        // The decoder admits only providers in `providers`.
                        provider: providers.firstIndex(of: offer.provider)!,
                        contextWindow: offer.contextWindow ?? model.contextWindow,
                        inputMicroUSDPerMillionTokens: offer.inputMicroUSDPerMillionTokens,
                        outputMicroUSDPerMillionTokens: offer.outputMicroUSDPerMillionTokens,
                        reasoning: model.reasoning,
                        timeToFirstTokenMs: offer.timeToFirstTokenMs,
                        outputTokensPerSecond: offer.outputTokensPerSecond
                    )
                )
            }
            offerRanges.append(first..<offers.count)
            scores += TaskType.byIndex.map { model.quality(for: $0).score }
        }
        self.offers = offers
        self.offerRanges = offerRanges
        self.modelIDs = models.map(\.id)
        self.providers = providers
        self.scores = scores
    }

    /// `models[modelIndex].quality(for: task).score`.
    func score(ofModel modelIndex: Int, for task: TaskType) -> Double {
        scores[modelIndex * TaskType.count + task.index]
    }
}

/// One value per provider (by its position in `RoutingTable.providers`), kept without hashing:
/// what a decision tracks per provider (allowed, health, exclusions). The first four live inline,
/// so a catalogue of up to four providers decides without allocating here; further ones go to an
/// array, allocated only when a catalogue defines them.
struct PerProvider<Value> {
    private var first: Value
    private var second: Value
    private var third: Value
    private var fourth: Value
    private var rest: [Value]

    init(count: Int, _ value: (Int) -> Value) {
        first = value(0)
        second = value(1)
        third = value(2)
        fourth = value(3)
        rest = count > 4 ? (4..<count).map(value) : []
    }

    init(count: Int, repeating value: Value) {
        self.init(count: count) { _ in value }
    }

    subscript(provider: Int) -> Value {
        get {
            switch provider {
            case 0: first
            case 1: second
            case 2: third
            case 3: fourth
            default: rest[provider - 4]
            }
        }
        set {
            switch provider {
            case 0: first = newValue
            case 1: second = newValue
            case 2: third = newValue
            case 3: fourth = newValue
            default: rest[provider - 4] = newValue
            }
        }
    }
}
