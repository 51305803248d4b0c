import PelletProviders
import PelletRouter
import PelletWire

/// The Complete call's figures for the metrics: provider attempts, tokens, cost, the gateway's
/// overhead and the refusals of budget and rate limit.
///
/// Every labelled series is created up front, from the catalogue's (provider, model) offers and
/// the fixed lists of outcomes and token kinds, so recording is an index lookup and a relaxed
/// atomic add: no lock, no allocation (`pellet-load micro --filter metrics`). No label carries
/// an account, a key or any text of a call.
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

    /// Outcomes of a provider attempt: "ok", then a failure kind each.
    public static let outcomes: [(kind: ProviderFailure.Kind?, label: String)] = [
        (nil, "ok"), (.badRequest, "bad_request"), (.misconfigured, "misconfigured"),
        (.rateLimited, "rate_limited"), (.providerError, "provider_error"),
        (.connectionFailed, "connection_failed"), (.timedOut, "timed_out"),
        (.firstTokenTimeout, "first_token_timeout"), (.idleTimeout, "idle_timeout"),
        (.malformedResponse, "malformed_response"), (.incompleteStream, "incomplete_stream"),
        (.cancelled, "cancelled"),
    ]
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
        providerRequests = MetricCounters(count: offers.count * Self.outcomes.count)
        tokens = MetricCounters(count: offers.count * Self.tokenKinds.count)
        costMicroUSD = MetricCounters(count: offers.count)
        providerDurations = DurationHistograms(
            boundsSeconds: DurationHistograms.latencyBoundsSeconds, series: providers.count)
        timeToFirstToken = DurationHistograms(
            boundsSeconds: DurationHistograms.latencyBoundsSeconds, series: providers.count)
    }

    private func providerIndex(_ provider: String) -> Int? {
        providers.firstIndex(of: provider)
    }

    private func offer(provider: Int, model: String) -> Int {
        offerIndex[provider][model] ?? otherOffer[provider]
    }

    /// One provider attempt ended: `failure` nil for a completion. `firstToken` is the time to
    /// the first token of text, nil when none came.
    public func recordAttempt(
        provider: String, model: String, failure: ProviderFailure.Kind?, nanoseconds: Int64, firstToken: Int64?
    ) {
        guard let index = providerIndex(provider) else { return }
        var outcome = 0
        if let failure {
            // A loop rather than `firstIndex(where:)`, whose closure captures `failure`.
            for index in 1..<Self.outcomes.count where Self.outcomes[index].kind == failure {
                outcome = index
                break
            }
        }
        providerRequests.add(at: offer(provider: index, model: model) * Self.outcomes.count + outcome)
        providerDurations.record(nanoseconds: UInt64(max(0, nanoseconds)), series: index)
        if let firstToken {
            timeToFirstToken.record(nanoseconds: UInt64(max(0, firstToken)), series: index)
        }
    }

    /// A settled call's charge, on the offer that answered it.
    public func recordUsage(provider: String, model: String, usage: TokenUsage, costMicroUSD cost: UInt64) {
        guard let index = providerIndex(provider) else { return }
        let offer = offer(provider: index, model: model)
        let base = offer * Self.tokenKinds.count
        tokens.add(UInt64(usage.promptTokens), at: base)
        tokens.add(UInt64(usage.cachedPromptTokens), at: base + 1)
        tokens.add(UInt64(usage.completionTokens), at: base + 2)
        costMicroUSD.add(cost, at: offer)
    }

    public func recordOverhead(nanoseconds: Int64) {
        gatewayOverhead.record(nanoseconds: UInt64(max(0, nanoseconds)))
    }

    public func recordBudgetRefusal() { refusals.add(at: 0) }
    public func recordRateLimited() { refusals.add(at: 1) }
}
