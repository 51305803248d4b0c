import ArgumentParser
import Foundation
import PelletRouter
import PelletWire

extension PelletCtl {
    struct Route: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the router where a prompt would go, without calling a provider."
        )

        @OptionGroup var options: ConnectionOptions

        @Argument(help: "The prompt, sent as one user message.")
        var prompt: String

        @Option(help: "cost, quality, latency or balanced.")
        var preference: PreferenceArgument = .balanced

        @Option(help: "A catalogue model id; by default the router chooses.")
        var model: String?

        @Option(name: .customLong("provider"), help: "Allow only this provider (repeatable): together, fireworks, groq.")
        var providers: [String] = []

        @Option(help: "Most completion tokens; sets the cost estimate and the context check.")
        var maxTokens: UInt32 = 0

        @Option(help: "A task type that overrides the classifier (code, math, ...).")
        var taskHint: String?

        @Option(
            help: ArgumentHelp(
                "An API key (plt_...). (default: $PELLET_API_KEY, else the admin token)",
                valueName: "key"
            )
        )
        var apiKey: String?

        func run() async throws {
            let request = RouteRequest(
                credentials: credentials(),
                messages: [ChatMessage(role: "user", content: prompt)],
                model: model ?? "",
                preference: preference.wire,
                maxTokens: maxTokens,
                taskHint: taskHint ?? "",
                providers: providers
            )
            let response = try await options.withClient { client throws(RPCError) in
                try await client.route(request, timeout: options.timeout)
            }
            guard let decision = response.decision else {
                throw RPCError(.internal, "the server answered without a decision")
            }
            if options.json {
                try Output.printJSON(DecisionJSON(decision))
                return
            }
            print(
                Output.fields([
                    ("task", "\(decision.taskType) (confidence \(Output.oneDecimal(Double(decision.confidence) * 100))%)"),
                    ("difficulty", Output.twoDecimals(Double(decision.difficulty))),
                    ("model", decision.model),
                    ("provider", decision.provider),
                    ("est. cost", Output.dollars(microUSD: decision.estCostMicroUsd)),
                    ("reason", decision.reason),
                    ("policy", decision.policyVersion),
                ]),
                terminator: ""
            )
            if decision.fallbacks.isEmpty {
                print("fallbacks  none")
            } else {
                print("fallbacks")
                let rows = decision.fallbacks.enumerated().map { index, candidate in
                    ["  \(index + 1).", candidate.model, candidate.provider, Output.dollars(microUSD: candidate.estCostMicroUsd)]
                }
                print(Output.table(["", "MODEL", "PROVIDER", "EST. COST"], rows), terminator: "")
            }
        }

        private func credentials() -> Credentials {
            if let apiKey, !apiKey.isEmpty { return Credentials(apiKey: apiKey) }
            if let key = ProcessInfo.processInfo.environment["PELLET_API_KEY"], !key.isEmpty {
                return Credentials(apiKey: key)
            }
            return options.adminCredentials()
        }
    }

    struct Models: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the model catalogue: models, providers, prices, speeds and each pair's availability.",
            discussion: """
                The availability comes from pelletd's Health (its model discovery): available, \
                unavailable (the provider does not list the model, or answered "model not found") \
                with the time since when, or unknown (not checked yet, or pelletd not reachable).
                """
        )

        @OptionGroup var options: ConnectionOptions

        @Option(help: "A catalogue file (as given to pelletd --catalogue); default the built-in one.")
        var catalogue: String?

        func run() async throws {
            let loaded: Catalogue
            do {
                loaded = try catalogue.map { try Catalogue(contentsOf: $0) } ?? Catalogue.loadBundled()
            } catch {
                throw RPCError(.invalidArgument, "cannot read the catalogue: \(error)")
            }
            let availability = await fetchAvailability()
            var rows: [[String]] = []
            var offers: [OfferJSON] = []
            for model in loaded.models {
                for offer in model.offers {
                    let pair = availability[PairKey(model: model.id, provider: offer.provider.rawValue)]
                    rows.append([
                        model.id, offer.provider.rawValue, "\(model.contextWindow / 1000)k",
                        Output.dollars(microUSD: offer.inputMicroUSDPerMillionTokens),
                        Output.dollars(microUSD: offer.outputMicroUSDPerMillionTokens),
                        "\(offer.timeToFirstTokenMs) ms", "\(Int(offer.outputTokensPerSecond))",
                        Self.stateText(pair),
                    ])
                    offers.append(OfferJSON(model: model, offer: offer, availability: pair))
                }
            }
            if options.json {
                try Output.printJSON(offers)
                return
            }
            print(
                Output.table(["MODEL", "PROVIDER", "CONTEXT", "IN $/M", "OUT $/M", "TTFT", "TOK/S", "STATE"], rows),
                terminator: "")
            print("prices read \(loaded.pricesRead); \(loaded.models.count) models")
        }

        /// Health's `models` by pair; empty (every pair unknown) when pelletd cannot be asked,
        /// which is said on stderr: the catalogue itself is still worth printing.
        private func fetchAvailability() async -> [PairKey: ModelAvailability] {
            do {
                let health = try await options.withClient { client throws(RPCError) in
                    try await client.health(timeout: options.timeout)
                }
                return Dictionary(
                    health.models.map { (PairKey(model: $0.model, provider: $0.provider), $0) },
                    uniquingKeysWith: { first, _ in first })
            } catch {
                Output.printError("note: availability unknown: \(error.message)")
                return [:]
            }
        }

        /// "available", "unavailable since 2026-12-01 14:03:07Z", "unknown".
        static func stateText(_ availability: ModelAvailability?) -> String {
            guard let availability, !availability.state.isEmpty else { return "unknown" }
            guard availability.state == "unavailable", availability.sinceUnixMs > 0 else { return availability.state }
            let since = Date(timeIntervalSince1970: Double(availability.sinceUnixMs) / 1000)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
            return "unavailable since \(formatter.string(from: since))Z"
        }
    }
}

private struct PairKey: Hashable {
    let model: String
    let provider: String
}

enum PreferenceArgument: String, ExpressibleByArgument, CaseIterable {
    case balanced, cost, quality, latency

    var wire: Preference {
        switch self {
        case .balanced: .balanced
        case .cost: .cost
        case .quality: .quality
        case .latency: .latency
        }
    }
}

private struct DecisionJSON: Encodable {
    let task_type: String
    let confidence: Float
    let difficulty: Float
    let model: String
    let provider: String
    let est_cost_micro_usd: UInt64
    let reason: String
    let policy_version: String
    let fallbacks: [Candidate]

    struct Candidate: Encodable {
        let model: String
        let provider: String
        let est_cost_micro_usd: UInt64
    }

    init(_ decision: RouteDecision) {
        task_type = decision.taskType
        confidence = decision.confidence
        difficulty = decision.difficulty
        model = decision.model
        provider = decision.provider
        est_cost_micro_usd = decision.estCostMicroUsd
        reason = decision.reason
        policy_version = decision.policyVersion
        fallbacks = decision.fallbacks.map { Candidate(model: $0.model, provider: $0.provider, est_cost_micro_usd: $0.estCostMicroUsd) }
    }
}

private struct OfferJSON: Encodable {
    let model: String
    let provider: String
    let provider_model: String
    let context_window: Int
    let input_micro_usd_per_million: UInt64
    let output_micro_usd_per_million: UInt64
    let time_to_first_token_ms: UInt32
    let output_tokens_per_second: Double
    /// "available", "unavailable" or "unknown" (from pelletd's Health).
    let state: String
    /// When the pair entered its state (unix ms); 0 when unknown.
    let state_since_unix_ms: UInt64

    init(model: CatalogueModel, offer: ProviderOffer, availability: ModelAvailability?) {
        self.model = model.id
        provider = offer.provider.rawValue
        provider_model = offer.providerModel
        context_window = model.contextWindow
        input_micro_usd_per_million = offer.inputMicroUSDPerMillionTokens
        output_micro_usd_per_million = offer.outputMicroUSDPerMillionTokens
        time_to_first_token_ms = offer.timeToFirstTokenMs
        output_tokens_per_second = offer.outputTokensPerSecond
        let state = availability?.state ?? ""
        self.state = state.isEmpty ? "unknown" : state
        state_since_unix_ms = availability?.sinceUnixMs ?? 0
    }
}
