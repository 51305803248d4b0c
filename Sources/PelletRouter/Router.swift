import PelletWire

/// Pellet's router: classifies a request and picks the model and provider that serve the caller's
/// preference best, with fallbacks and a one-sentence reason.
///
/// Pure and deterministic: no I/O, no clocks, no randomness. Provider health comes in as a value
/// with each call. Cheap to copy and safe to share between event loops.
public struct Router: Sendable {
    public let catalogue: Catalogue
    public let policy: RoutingPolicy
    /// A hash of the catalogue and the policy: changes whenever a decision could.
    public let policyVersion: String
    let classifier: TaskClassifier
    /// `policy.floor(for:)` in `Difficulty.allCases` order, so a decision reads it without hashing.
    let floorByDifficulty: [Double]

    public init(catalogue: Catalogue, policy: RoutingPolicy = RoutingPolicy()) {
        self.catalogue = catalogue
        self.policy = policy
        self.policyVersion = policy.version(for: catalogue)
        self.classifier = TaskClassifier()
        self.floorByDifficulty = Difficulty.allCases.map(policy.floor(for:))
    }

    /// The classifier alone (for benchmarks and `pelletctl`).
    public func classify(messages: [ChatMessage]) -> TaskClassification {
        classifier.classify(messages)
    }

    /// Decides where a request goes.
    ///
    /// Errors: no messages or only empty content, a `providers` entry that is not a provider, or
    /// an invalid `task_hint` → INVALID_ARGUMENT; an unknown `model` → NOT_FOUND; no candidate
    /// left (context too small, providers excluded or unavailable) → UNAVAILABLE with the reason.
    public func route(
        _ request: RouteRequest,
        health: ProviderHealthSnapshot = .allHealthy
    ) throws(RPCError) -> RouteDecision {
        guard !request.messages.isEmpty else {
            throw RPCError(.invalidArgument, "messages is empty: a route needs at least one message")
        }
        guard request.messages.contains(where: { !Self.isBlank($0.content) }) else {
            throw RPCError(.invalidArgument, "every message's content is empty")
        }
        // Every provider when the request names none.
        let providers = catalogue.routingTable.providers
        var allowed = PerProvider(count: providers.count, repeating: request.providers.isEmpty)
        for name in request.providers {
            guard let provider = providers.firstIndex(where: { $0.rawValue == name }) else {
                throw RPCError(
                    .invalidArgument,
                    "unknown provider \"\(name)\" in providers (expected \(providers.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            allowed[provider] = true
        }

        var hint: TaskType?
        if !request.taskHint.isEmpty {
            guard let task = TaskType(rawValue: request.taskHint) else {
                throw RPCError(
                    .invalidArgument,
                    "invalid task_hint \"\(request.taskHint)\" (expected one of \(TaskType.names.joined(separator: ", ")))"
                )
            }
            hint = task
        }
        var explicitModel: Int?
        if !request.model.isEmpty && request.model != "auto" {
            guard let modelIndex = catalogue.index(ofModel: request.model) else {
                throw RPCError(
                    .notFound,
                    "unknown model \"\(request.model)\"; the catalogue has \(catalogue.models.map(\.id).joined(separator: ", "))"
                )
            }
            explicitModel = modelIndex
        }

        // The classifier runs even with a hint: the difficulty still comes from it.
        let classification = classifier.classify(request.messages)
        let task = hint ?? classification.task
        let context = DecisionContext(
            task: task,
            taskFromHint: hint != nil,
            confidence: hint != nil ? 1 : classification.confidence,
            difficulty: classification.difficulty,
            difficultyScore: classification.difficultyScore,
            promptTokens: TokenEstimator.estimate(request.messages),
            maxTokens: request.maxTokens == 0 ? policy.defaultMaxTokens : request.maxTokens,
            preference: request.preference,
            floor: floorByDifficulty[classification.difficulty.index]
        )
        return try decide(context, explicitModel: explicitModel, allowed: allowed, health: health)
    }

    static func isBlank(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
    }
}

/// What the policy knows about the request once it is validated and classified.
struct DecisionContext {
    let task: TaskType
    let taskFromHint: Bool
    let confidence: Float
    let difficulty: Difficulty
    /// The classifier's difficulty score, 0...1 (`difficulty` is it in three steps).
    let difficultyScore: Float
    let promptTokens: Int
    let maxTokens: UInt32
    let preference: Preference
    let floor: Double

    var requiredTokens: Int { promptTokens + Int(maxTokens) }
}

extension Router {
    /// Builds the candidates, ranks them and explains the choice. On every Route and Complete
    /// call, on the event loop: it reads the catalogue through `RoutingTable` and keeps per
    /// provider state in `PerProvider`, so the only allocations are the candidates and the
    /// decision itself.
    func decide(
        _ context: DecisionContext,
        explicitModel: Int?,
        allowed: PerProvider<Bool>,
        health: ProviderHealthSnapshot
    ) throws(RPCError) -> RouteDecision {
        let table = catalogue.routingTable
        let offers = explicitModel.map { table.offerRanges[$0] } ?? table.offers.indices
        // One dictionary lookup per provider, not one per offer.
        let reported = PerProvider<ProviderHealthSnapshot.Provider?>(count: table.providers.count) {
            $0 < table.providers.count ? health.providers[table.providers[$0]] : nil
        }
        var candidates: [Candidate] = []
        candidates.reserveCapacity(offers.count)
        var exclusions = Exclusions(providers: table.providers)
        let reasoningMultiplier = UInt64(policy.reasoningOutputMultiplier)
        for offer in table.offers[offers] {
            guard allowed[offer.provider] else {
                exclusions.notAllowed[offer.provider] = true
                continue
            }
            let state = reported[offer.provider]?.state ?? .healthy
            guard state.isAvailable else {
                exclusions.unavailable[offer.provider] = state
                continue
            }
            // Checked only when the provider reports retired models, so a healthy decision
            // hashes nothing here.
            if let retired = reported[offer.provider]?.unavailableModels, !retired.isEmpty,
                retired.contains(table.modelIDs[offer.modelIndex])
            {
                exclusions.unlisted[offer.provider] = true
                continue
            }
            guard offer.contextWindow >= context.requiredTokens else {
                exclusions.largestTooSmallWindow = max(exclusions.largestTooSmallWindow, offer.contextWindow)
                continue
            }
            // A reasoning model's thinking comes before the answer and is billed as output.
            let outputTokens = UInt64(context.maxTokens) * (offer.reasoning ? reasoningMultiplier : 1)
            let latency = ProviderHealthSnapshot.expectedLatency(
                of: offer,
                reported: reported[offer.provider],
                modelIDs: table.modelIDs
            )
            candidates.append(
                Candidate(
                    modelIndex: offer.modelIndex,
                    nameRank: offer.nameRank,
                    provider: offer.provider,
                    score: table.score(ofModel: offer.modelIndex, for: context.task),
                    costNumerator: UInt64(context.promptTokens) * offer.inputMicroUSDPerMillionTokens
                        + outputTokens * offer.outputMicroUSDPerMillionTokens,
                    latencyMs: latency.timeToFirstTokenMs + Double(outputTokens) / latency.tokensPerSecond * 1000,
                    degraded: state == .degraded
                )
            )
        }
        guard !candidates.isEmpty else {
            throw RPCError(
                .unavailable,
                exclusions.message(context: context, explicitModel: explicitModel.map { table.modelIDs[$0] })
            )
        }

        // Candidates meeting the floor in the preference's order, then the rest by quality. An
        // explicit model's providers all share its quality, so only the preference orders them.
        // QUALITY on an easy prompt takes the cheapest candidate near the best score.
        // Healthy candidates rank first, so the best score is theirs when there are any.
        let bestScore =
            candidates.lazy.filter { !$0.degraded }.map(\.score).max() ?? candidates.lazy.map(\.score).max() ?? 0
        let tolerance = explicitModel == nil && context.preference == .quality ? policy.tolerance(for: context.difficulty) : 0
        let ranking = policy.ranking(
            preference: context.preference,
            floor: context.floor,
            floorFirst: explicitModel == nil && context.preference != .quality,
            bestScore: bestScore,
            tolerance: tolerance
        )
        candidates.sort { ranking.ranksBefore($0, $1) }
        let ranked = candidates
        let primary = ranked[0]
        let meetsFloor = !ranking.floorFirst || primary.score >= context.floor

        func routeCandidate(_ candidate: Candidate) -> RouteCandidate {
            RouteCandidate(
                model: table.modelIDs[candidate.modelIndex],
                provider: table.providers[candidate.provider].rawValue,
                estCostMicroUsd: candidate.cost
            )
        }
        var fallbacks: [RouteCandidate] = []
        fallbacks.reserveCapacity(max(0, min(policy.maxFallbacks, ranked.count - 1)))
        for candidate in ranked.dropFirst() where candidate.modelIndex == primary.modelIndex {
            guard fallbacks.count < policy.maxFallbacks else { break }
            fallbacks.append(routeCandidate(candidate))
        }
        if explicitModel == nil {
            // Then every other model once, at its best-ranked candidate: the first of its model in
            // `ranked` (a short scan: each model has at most one candidate per provider).
            for position in ranked.indices.dropFirst() {
                let modelIndex = ranked[position].modelIndex
                guard !ranked[..<position].contains(where: { $0.modelIndex == modelIndex }) else { continue }
                guard fallbacks.count < policy.maxFallbacks else { break }
                fallbacks.append(routeCandidate(ranked[position]))
            }
        }

        let modelID = table.modelIDs[primary.modelIndex]
        return RouteDecision(
            taskType: context.task.rawValue,
            confidence: context.confidence,
            model: modelID,
            provider: table.providers[primary.provider].rawValue,
            estCostMicroUsd: primary.cost,
            fallbacks: fallbacks,
            reason: RouteReason.sentence(
                for: primary,
                modelID: modelID,
                providerName: table.providers[primary.provider].rawValue,
                context: context,
                explicit: explicitModel != nil,
                meetsFloor: meetsFloor,
                bestScore: bestScore,
                tolerance: tolerance,
                providerCount: ranked.count { $0.modelIndex == primary.modelIndex }
            ),
            policyVersion: policyVersion,
            difficulty: context.difficultyScore
        )
    }
}

/// Why (model, provider) pairs were left out, for the UNAVAILABLE message.
struct Exclusions {
    /// The catalogue's providers, in name order: the message names them in this order.
    let providers: [ProviderName]
    var notAllowed: PerProvider<Bool>
    var unavailable: PerProvider<ProviderHealthSnapshot.State?>
    /// The provider does not serve the model now (not in its model list, or "model not found").
    var unlisted: PerProvider<Bool>
    var largestTooSmallWindow = 0

    init(providers: [ProviderName]) {
        self.providers = providers
        notAllowed = PerProvider(count: providers.count, repeating: false)
        unavailable = PerProvider(count: providers.count, repeating: nil)
        unlisted = PerProvider(count: providers.count, repeating: false)
    }

    func message(context: DecisionContext, explicitModel: String?) -> String {
        var parts: [String] = []
        let providers = self.providers.indices.compactMap { index -> String? in
            let provider = self.providers[index]
            if let state = unavailable[index] {
                return "\(provider) \(state == .open ? "circuit open" : "disabled")"
            }
            if unlisted[index] { return "\(provider) does not serve it now" }
            return notAllowed[index] ? "\(provider) not in providers" : nil
        }
        if !providers.isEmpty { parts.append(providers.joined(separator: ", ")) }
        if largestTooSmallWindow > 0 {
            parts.append(
                "context window too small for \(context.requiredTokens) tokens (prompt about \(context.promptTokens) + "
                    + "max_tokens \(context.maxTokens); the largest window left is \(largestTooSmallWindow))"
            )
        }
        let detail = parts.joined(separator: "; ")
        if let model = explicitModel, largestTooSmallWindow == 0 {
            return "all providers of \(model) are unavailable: \(detail)"
        }
        if let model = explicitModel {
            return "no candidate for \(model): \(detail)"
        }
        return "no candidate: \(detail)"
    }
}
