import PelletProviders
import PelletRouter
import PelletWire

/// The Complete call's figures for the metrics: provider attempts, tokens, cost, the gateway's
/// overhead and the refusals of budget and rate limit.
///
/// Every labelled series is created up front, from the catalogue's (provider, model) offers and
/// the fixed lists of outcomes and token kinds. A call resolves its (provider, model) series once
/// per attempt (``Offer``); recording is then index arithmetic and relaxed atomic adds: no lock,
/// no allocation (`pellet-load micro --filter metrics`). No label carries an account, a key or
/// any text of a call.
public final class CompleteMetrics: Sendable {
    /// The catalogue's provider names (built in and defined), in name order: a provider's index.
    /// Fixed at start-up: a provider that a catalogue reload adds is not recorded until restart,
    /// since the series are created up front.
    public let providers: [String]
    /// Each series' (provider, model); a provider's models not in the catalogue share "other".
    public let offers: [(provider: String, model: String)]
    /// Per provider: model id → index into `offers`.
    private let offerIndex: [[String: Int]]
    private let otherOffer: [Int]

    /// Outcomes of a provider attempt: "ok", then each failure kind in `Kind.index` order
    /// ("model_unavailable", "rate_limited", ...), so that every kind, one added later included,
    /// is counted as itself.
    public static let outcomeLabels: [String] = ["ok"] + ProviderFailure.Kind.allCases.map { snakeCase($0.description) }

    /// "firstTokenTimeout" → "first_token_timeout" (Prometheus label values are snake case).
    static func snakeCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase {
                result += "_" + character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }

    public static let tokenKinds = ["input", "cached_input", "output"]

    /// offers × outcomes.
    let providerRequests: MetricCounters
    /// offers × token kinds.
    let tokens: MetricCounters
    /// offers; micro-USD, rendered in USD.
    let costMicroUSD: MetricCounters
    /// One series per provider: each attempt's transfer.
    let providerDurations: DurationHistograms
    /// One series per provider: the attempt's start to its first token of text.
    let timeToFirstToken: DurationHistograms
    /// A Complete call's time in the gateway, its provider transfers left out.
    let gatewayOverhead = DurationHistograms(boundsSeconds: [
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
    ])
    /// [budget refusals, rate limited].
    let refusals = MetricCounters(count: 2)

    public init(catalogue: Catalogue) {
        providers = catalogue.providers.map(\.rawValue)
        var offers: [(provider: String, model: String)] = []
        var offerIndex: [[String: Int]] = []
        var otherOffer: [Int] = []
        for provider in providers {
            var index: [String: Int] = [:]
            for model in catalogue.models where model.offers.contains(where: { $0.provider.rawValue == provider }) {
                index[model.id] = offers.count
                offers.append((provider, model.id))
            }
            offerIndex.append(index)
            otherOffer.append(offers.count)
            offers.append((provider, "other"))
        }
        self.offers = offers
        self.offerIndex = offerIndex
        self.otherOffer = otherOffer
        providerRequests = MetricCounters(count: offers.count * Self.outcomeLabels.count)
        tokens = MetricCounters(count: offers.count * Self.tokenKinds.count)
        costMicroUSD = MetricCounters(count: offers.count)
        providerDurations = DurationHistograms(
            boundsSeconds: DurationHistograms.latencyBoundsSeconds, series: providers.count)
        timeToFirstToken = DurationHistograms(
            boundsSeconds: DurationHistograms.latencyBoundsSeconds, series: providers.count)
    }

    /// One (provider, model) series, resolved by name once per provider attempt
    /// (``offer(provider:model:)``), so that recording the attempt and then its usage is index
    /// arithmetic on preallocated counters: no hashing, no lock, no allocation.
    public struct Offer: Sendable, Equatable {
        let provider: Int
        let offer: Int
    }

    /// The series of `model` on `provider`: a model the catalogue does not offer there counts as
    /// the provider's "other"; nil for a provider the gateway does not know.
    ///
    /// A loop over indices, not `providers.firstIndex(of:)`: in a build without optimization that
    /// generic call reads each element through `Collection`'s subscript coroutine, whose frame is
    /// malloc'ed (`pellet-load micro`: 2 allocs per Complete call's recording). Three names: a
    /// few compares.
    public func offer(provider: String, model: String) -> Offer? {
        for index in 0..<providers.count where providers[index] == provider {
            return Offer(provider: index, offer: offerIndex[index][model] ?? otherOffer[index])
        }
        return nil
    }

    /// One provider attempt ended: `failure` nil for a completion. `firstToken` is the time to
    /// the first token of text, nil when none came.
    public func recordAttempt(_ offer: Offer, failure: ProviderFailure.Kind?, nanoseconds: Int64, firstToken: Int64?) {
        // `Kind.index`, not a search of the labels: one array position per kind.
        let outcome = failure.map { $0.index + 1 } ?? 0
        providerRequests.add(at: offer.offer * Self.outcomeLabels.count + outcome)
        providerDurations.record(nanoseconds: UInt64(max(0, nanoseconds)), series: offer.provider)
        if let firstToken {
            timeToFirstToken.record(nanoseconds: UInt64(max(0, firstToken)), series: offer.provider)
        }
    }

    /// A settled call's charge, on the offer that answered it.
    public func recordUsage(_ offer: Offer, usage: TokenUsage, costMicroUSD cost: UInt64) {
        let base = offer.offer * Self.tokenKinds.count
        tokens.add(UInt64(usage.promptTokens), at: base)
        tokens.add(UInt64(usage.cachedPromptTokens), at: base + 1)
        tokens.add(UInt64(usage.completionTokens), at: base + 2)
        costMicroUSD.add(cost, at: offer.offer)
    }

    /// ``recordAttempt(_:failure:nanoseconds:firstToken:)`` by name, for callers off the hot path.
    public func recordAttempt(
        provider: String, model: String, failure: ProviderFailure.Kind?, nanoseconds: Int64, firstToken: Int64?
    ) {
        guard let offer = offer(provider: provider, model: model) else { return }
        recordAttempt(offer, failure: failure, nanoseconds: nanoseconds, firstToken: firstToken)
    }

    /// ``recordUsage(_:usage:costMicroUSD:)`` by name, for callers off the hot path.
    public func recordUsage(provider: String, model: String, usage: TokenUsage, costMicroUSD cost: UInt64) {
        guard let offer = offer(provider: provider, model: model) else { return }
        recordUsage(offer, usage: usage, costMicroUSD: cost)
    }

    public func recordOverhead(nanoseconds: Int64) {
        gatewayOverhead.record(nanoseconds: UInt64(max(0, nanoseconds)))
    }

    public func recordBudgetRefusal() { refusals.add(at: 0) }
    public func recordRateLimited() { refusals.add(at: 1) }
}
