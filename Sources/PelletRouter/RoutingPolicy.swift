import PelletWire

/// The rules that turn a classified request into a (model, provider) choice, and the constants
/// they use. Deterministic: the same request, catalogue and health give the same decision.
///
/// Candidates are the (model, provider) pairs whose provider is allowed by the request, healthy
/// or degraded (not open or disabled), and whose context window fits the prompt estimate plus
/// `max_tokens`. The prompt's difficulty (the estimated probability that a cheap model answers
/// it worse than a frontier one, in three steps) sets the quality floor: a hard prompt needs a
/// stronger model. Each preference then ranks them, healthy providers always before degraded ones:
/// - COST: the cheapest candidate whose quality for the task meets the floor for its difficulty;
/// - QUALITY: the best quality for the task (ties: cheaper, then faster); for an easy or medium
///   prompt, every candidate within `qualityTolerance` of the best counts as the best, and the
///   cheapest of them wins: an easy prompt gains nothing from the last few points of quality;
/// - LATENCY: the fastest expected full answer (time to first token + max_tokens / speed) among
///   candidates meeting the floor: a fast answer that is wrong is not what a caller asked for;
/// - BALANCED: the most quality above the floor per dollar, `(score - floor + margin) / cost`.
/// When no candidate meets the floor, every preference takes the best quality available and
/// says so in the reason.
public struct RoutingPolicy: Sendable, Equatable {
    /// The quality a model must reach for a task of each difficulty (catalogue scores, 0...1).
    public var floors: [Difficulty: Double]
    /// The completion length assumed when a request leaves `max_tokens` at 0.
    public var defaultMaxTokens: UInt32
    /// QUALITY: how far below the best score a candidate may be and still count as the best,
    /// per difficulty (0 for hard prompts: they get the strongest model).
    public var qualityTolerance: [Difficulty: Double]
    /// BALANCED: what a candidate exactly at the floor is worth, so it still counts.
    public var balancedMargin: Double
    /// Fallbacks listed after the primary, at most.
    public var maxFallbacks: Int
    /// A reasoning model's expected output, as a multiple of `max_tokens`: it thinks before it
    /// answers, and its reasoning tokens are billed as output. Whether a provider counts them
    /// against `max_tokens` is not documented for every model, so cost and latency estimates (and
    /// the budget reservation made from the cost) assume it may not. 2: the thinking is taken to
    /// be about as long as the answer; gpt-oss at medium effort and DeepSeek-R1-style models
    /// commonly spend as much or more.
    public var reasoningOutputMultiplier: UInt32

    public init(
        floors: [Difficulty: Double] = [.easy: 0.55, .medium: 0.70, .hard: 0.85],
        qualityTolerance: [Difficulty: Double] = [.easy: 0.05, .medium: 0.02, .hard: 0],
        defaultMaxTokens: UInt32 = 512,
        balancedMargin: Double = 0.05,
        maxFallbacks: Int = 4,
        reasoningOutputMultiplier: UInt32 = 2
    ) {
        self.floors = floors
        self.qualityTolerance = qualityTolerance
        self.defaultMaxTokens = defaultMaxTokens
        self.balancedMargin = balancedMargin
        self.maxFallbacks = maxFallbacks
        self.reasoningOutputMultiplier = max(1, reasoningOutputMultiplier)
    }

    public func floor(for difficulty: Difficulty) -> Double {
        floors[difficulty] ?? 0
    }

    public func tolerance(for difficulty: Difficulty) -> Double {
        max(0, qualityTolerance[difficulty] ?? 0)
    }

    /// The constants in a fixed textual form: hashed into `policy_version` with the catalogue.
    var canonicalDescription: String {
        let floorText = Difficulty.allCases.map { "\($0)=\(floor(for: $0))" }.joined(separator: ",")
        let toleranceText = Difficulty.allCases.map { "\($0)=\(tolerance(for: $0))" }.joined(separator: ",")
        return "pellet-policy/1;floors=\(floorText);quality_tolerance=\(toleranceText);default_max_tokens=\(defaultMaxTokens);"
            + "balanced_margin=\(balancedMargin);max_fallbacks=\(maxFallbacks);"
            + "reasoning_output_multiplier=\(reasoningOutputMultiplier);"
            + "token_estimator=\(TokenEstimator.coefficients.map { "\($0)" }.joined(separator: ","))"
    }

    /// "p1-" and 16 hex digits: a hash of the catalogue's bytes, this policy's constants and the
    /// classifier's weights, so it changes whenever a decision could.
    public func version(for catalogue: Catalogue) -> String {
        let classifier = StableHash.hex(ClassifierModel.generated.fingerprint)
        let text = catalogue.fingerprint + ";" + canonicalDescription + ";classifier=" + classifier
        return "p1-" + StableHash.hex(StableHash.fnv1a64(text.utf8))
    }
}

/// A (model, provider) pair that can serve the request, with what the policy ranks it by.
///
/// Plain values only (the model is an index into the catalogue), so ranking copies no references.
struct Candidate {
    let modelIndex: Int
    /// The model id's position in id order: the last tie-break, so the order never depends on
    /// the catalogue's order or a hash.
    let nameRank: Int
    /// The provider's position in `RoutingTable.providers` (name order).
    let provider: Int
    /// The model's quality for the request's task.
    let score: Double
    /// Cost × 1,000,000 in micro-USD (exact: tokens × micro-USD per million tokens).
    let costNumerator: UInt64
    /// Expected milliseconds to the full answer.
    let latencyMs: Double
    let degraded: Bool

    /// Micro-USD, rounded up.
    var cost: UInt64 { (costNumerator + 999_999) / 1_000_000 }

    static func byName(_ a: Candidate, _ b: Candidate) -> Bool {
        a.nameRank != b.nameRank ? a.nameRank < b.nameRank : a.provider < b.provider
    }
}

extension RoutingPolicy {
    /// The order of a decision's candidates. `floorFirst`: the candidates meeting `floor` first,
    /// then the rest by quality (an automatic choice other than QUALITY).
    func ranking(
        preference: Preference,
        floor: Double,
        floorFirst: Bool,
        bestScore: Double = .infinity,
        tolerance: Double = 0
    ) -> Ranking {
        Ranking(
            preference: preference,
            floor: floor,
            balancedMargin: balancedMargin,
            floorFirst: floorFirst,
            nearBest: bestScore - tolerance,
            tolerant: tolerance > 0
        )
    }
}

/// The policy's order of candidates for one decision, from plain values only: sorting calls
/// `ranksBefore` a few hundred times per decision, so it must not copy the policy (its `floors`
/// dictionary) or the router.
struct Ranking {
    let preference: Preference
    /// Only BALANCED's value and `floorFirst` use it.
    let floor: Double
    let balancedMargin: Double
    let floorFirst: Bool
    /// QUALITY: a score at or above this counts as the best (the best score less the tolerance).
    let nearBest: Double
    /// QUALITY: whether candidates near the best are ranked by cost.
    let tolerant: Bool

    /// True when `a` ranks before `b`. Never a tie: the last tie-break is the model's id and the
    /// provider, which differ between candidates.
    func ranksBefore(_ a: Candidate, _ b: Candidate) -> Bool {
        guard floorFirst else { return ranksBefore(a, b, preference: preference) }
        let aMeetsFloor = a.score >= floor
        if aMeetsFloor != (b.score >= floor) { return aMeetsFloor }
        // Below the floor: best quality first.
        return ranksBefore(a, b, preference: aMeetsFloor ? preference : .quality)
    }

    private func ranksBefore(_ a: Candidate, _ b: Candidate, preference: Preference) -> Bool {
        if a.degraded != b.degraded { return !a.degraded }
        switch preference {
        case .cost:
            if a.costNumerator != b.costNumerator { return a.costNumerator < b.costNumerator }
            if a.score != b.score { return a.score > b.score }
            if a.latencyMs != b.latencyMs { return a.latencyMs < b.latencyMs }
        case .quality:
            if tolerant {
                let aNear = a.score >= nearBest
                if aNear != (b.score >= nearBest) { return aNear }
                if aNear && a.costNumerator != b.costNumerator { return a.costNumerator < b.costNumerator }
            }
            if a.score != b.score { return a.score > b.score }
            if a.costNumerator != b.costNumerator { return a.costNumerator < b.costNumerator }
            if a.latencyMs != b.latencyMs { return a.latencyMs < b.latencyMs }
        case .latency:
            if a.latencyMs != b.latencyMs { return a.latencyMs < b.latencyMs }
            if a.costNumerator != b.costNumerator { return a.costNumerator < b.costNumerator }
            if a.score != b.score { return a.score > b.score }
        case .balanced:
            let valueA = (a.score - floor + balancedMargin) / Double(a.costNumerator)
            let valueB = (b.score - floor + balancedMargin) / Double(b.costNumerator)
            if valueA != valueB { return valueA > valueB }
            if a.score != b.score { return a.score > b.score }
            if a.costNumerator != b.costNumerator { return a.costNumerator < b.costNumerator }
        }
        return Candidate.byName(a, b)
    }
}
