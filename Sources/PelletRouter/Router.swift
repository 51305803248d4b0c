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

    public init(catalogue: Catalogue, policy: RoutingPolicy = RoutingPolicy()) {
        self.catalogue = catalogue
        self.policy = policy
        self.policyVersion = policy.version(for: catalogue)
        self.classifier = TaskClassifier()
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
        var allowed: Set<ProviderName> = []
        for name in request.providers {
            guard let provider = ProviderName(rawValue: name) else {
                throw RPCError(
                    .invalidArgument,
                    "unknown provider \"\(name)\" in providers (expected \(ProviderName.names.joined(separator: ", ")))"
                )
            }
            allowed.insert(provider)
        }
        if allowed.isEmpty { allowed = Set(ProviderName.allCases) }

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
        var explicitModel: CatalogueModel?
        if !request.model.isEmpty && request.model != "auto" {
            guard let model = catalogue.model(id: request.model) else {
                throw RPCError(
                    .notFound,
                    "unknown model \"\(request.model)\"; the catalogue has \(catalogue.models.map(\.id).joined(separator: ", "))"
                )
            }
            explicitModel = model
        }

        // The classifier runs even with a hint: the difficulty still comes from it.
        let classification = classifier.classify(request.messages)
        let task = hint ?? classification.task
        let context = DecisionContext(
            task: task,
            taskFromHint: hint != nil,
            confidence: hint != nil ? 1 : classification.confidence,
            difficulty: classification.difficulty,
            promptTokens: TokenEstimator.estimate(request.messages),
            maxTokens: request.maxTokens == 0 ? policy.defaultMaxTokens : request.maxTokens,
            preference: request.preference,
            floor: policy.floor(for: classification.difficulty)
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
    let promptTokens: Int
    let maxTokens: UInt32
    let preference: Preference
    let floor: Double

    var requiredTokens: Int { promptTokens + Int(maxTokens) }
}

extension Router {
    func decide(
        _ context: DecisionContext,
        explicitModel: CatalogueModel?,
        allowed: Set<ProviderName>,
        health: ProviderHealthSnapshot
    ) throws(RPCError) -> RouteDecision {
        let modelIndices =
            explicitModel.flatMap { catalogue.index(ofModel: $0.id) }.map { $0..<($0 + 1) }
            ?? catalogue.models.indices
        var candidates: [Candidate] = []
        candidates.reserveCapacity(catalogue.models.count * ProviderName.allCases.count)
        var exclusions = Exclusions()
        for modelIndex in modelIndices {
            let model = catalogue.models[modelIndex]
            for offer in model.offers {
                guard allowed.contains(offer.provider) else {
                    exclusions.notAllowed.insert(offer.provider)
                    continue
                }
                let state = health.state(of: offer.provider)
                guard state.isAvailable else {
                    exclusions.unavailable[offer.provider] = state
                    continue
                }
                guard model.contextWindow >= context.requiredTokens else {
                    exclusions.largestTooSmallWindow = max(exclusions.largestTooSmallWindow, model.contextWindow)
                    continue
                }
                let latency = health.expectedLatency(of: offer, modelID: model.id)
                candidates.append(
                    Candidate(
                        modelIndex: modelIndex,
                        nameRank: catalogue.nameRank[modelIndex],
                        provider: offer.provider,
                        score: model.quality(for: context.task).score,
                        costNumerator: UInt64(context.promptTokens) * offer.inputMicroUSDPerMillionTokens
                            + UInt64(context.maxTokens) * offer.outputMicroUSDPerMillionTokens,
                        latencyMs: latency.timeToFirstTokenMs + Double(context.maxTokens) / latency.tokensPerSecond
                            * 1000,
                        degraded: state == .degraded
                    )
                )
            }
        }
        guard !candidates.isEmpty else {
            throw RPCError(.unavailable, exclusions.message(context: context, explicitModel: explicitModel))
        }

        // Candidates meeting the floor in the preference's order, then the rest by quality. An
        // explicit model's providers all share its quality, so only the preference orders them.
        let ranked: [Candidate]
        let meetsFloor: Bool
        if explicitModel != nil || context.preference == .quality {
            ranked = candidates.sorted {
                policy.ranksBefore($0, $1, preference: context.preference, floor: context.floor)
            }
            meetsFloor = true
        } else {
            let eligible = candidates.filter { $0.score >= context.floor }
                .sorted { policy.ranksBefore($0, $1, preference: context.preference, floor: context.floor) }
            let rest = candidates.filter { $0.score < context.floor }.sorted(by: policy.ranksByQuality)
            ranked = eligible + rest
            meetsFloor = !eligible.isEmpty
        }
        let primary = ranked[0]

        func routeCandidate(_ candidate: Candidate) -> RouteCandidate {
            RouteCandidate(
                model: catalogue.models[candidate.modelIndex].id,
                provider: candidate.provider.rawValue,
                estCostMicroUsd: candidate.cost
            )
        }
        var fallbacks: [RouteCandidate] = []
        for candidate in ranked.dropFirst() where candidate.modelIndex == primary.modelIndex {
            guard fallbacks.count < policy.maxFallbacks else { break }
            fallbacks.append(routeCandidate(candidate))
        }
        if explicitModel == nil {
            var listed: Set<Int> = [primary.modelIndex]
            for candidate in ranked.dropFirst() where !listed.contains(candidate.modelIndex) {
                guard fallbacks.count < policy.maxFallbacks else { break }
                listed.insert(candidate.modelIndex)
                fallbacks.append(routeCandidate(candidate))
            }
        }

        return RouteDecision(
            taskType: context.task.rawValue,
            confidence: context.confidence,
            model: catalogue.models[primary.modelIndex].id,
            provider: primary.provider.rawValue,
            estCostMicroUsd: primary.cost,
            fallbacks: fallbacks,
            reason: RouteReason.sentence(
                for: primary,
                modelID: catalogue.models[primary.modelIndex].id,
                context: context,
                explicit: explicitModel != nil,
                meetsFloor: meetsFloor,
                providerCount: ranked.filter { $0.modelIndex == primary.modelIndex }.count
            ),
            policyVersion: policyVersion
        )
    }
}

/// Why (model, provider) pairs were left out, for the UNAVAILABLE message.
struct Exclusions {
    var notAllowed: Set<ProviderName> = []
    var unavailable: [ProviderName: ProviderHealthSnapshot.State] = [:]
    var largestTooSmallWindow = 0

    func message(context: DecisionContext, explicitModel: CatalogueModel?) -> String {
        var parts: [String] = []
        let providers = ProviderName.allCases.compactMap { provider -> String? in
            if let state = unavailable[provider] {
                return "\(provider) \(state == .open ? "circuit open" : "disabled")"
            }
            return notAllowed.contains(provider) ? "\(provider) not in providers" : nil
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
            return "all providers of \(model.id) are unavailable: \(detail)"
        }
        if let model = explicitModel {
            return "no candidate for \(model.id): \(detail)"
        }
        return "no candidate: \(detail)"
    }
}
