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
        let provider: ProviderName
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
    /// Model-major, task types in `TaskType.allCases` order.
    private let scores: [Double]

    init(models: [CatalogueModel], nameRank: [Int]) {
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
                        provider: offer.provider,
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
        self.scores = scores
    }

    /// `models[modelIndex].quality(for: task).score`.
    func score(ofModel modelIndex: Int, for task: TaskType) -> Double {
        scores[modelIndex * TaskType.count + task.index]
    }
}

/// One value per provider, kept without hashing or allocating: what a decision tracks per
/// provider (allowed, health, exclusions).
struct PerProvider<Value> {
    private var together: Value
    private var fireworks: Value
    private var groq: Value

    init(_ value: (ProviderName) -> Value) {
        together = value(.together)
        fireworks = value(.fireworks)
        groq = value(.groq)
    }

    init(repeating value: Value) {
        self.init { _ in value }
    }

    subscript(provider: ProviderName) -> Value {
        get {
            switch provider {
            case .together: together
            case .fireworks: fireworks
            case .groq: groq
            }
        }
        set {
            switch provider {
            case .together: together = newValue
            case .fireworks: fireworks = newValue
            case .groq: groq = newValue
            }
        }
    }
}
