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

        @Option(name: .customLong("provider"), help: "Allow only this provider (repeatable): together, fireworks, groq, or one the catalogue defines.")
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
                with the time since when, or unknown (not checked yet, or pelletd not reachable). \
                --check compares the prices providers publish in their model lists (Together does) \
                with the catalogue's, which billing uses, and exits 1 when any differs.
                """
        )

        @OptionGroup var options: ConnectionOptions

        @Option(help: "A catalogue file (as given to pelletd --catalogue); default the built-in one.")
        var catalogue: String?

        @Flag(help: "Show the pairs whose provider publishes prices, against the catalogue's; exit 1 when any differs.")
        var check = false

        func run() async throws {
            let loaded: Catalogue
            do {
                loaded = try catalogue.map { try Catalogue(contentsOf: $0) } ?? Catalogue.loadBundled()
            } catch {
                throw RPCError(.invalidArgument, "cannot read the catalogue: \(error)")
            }
            let availability = await fetchAvailability()
            if check {
                return try printPriceCheck(catalogue: loaded, availability: availability)
            }
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

        /// `--check`: each pair whose provider publishes a price, the catalogue's next to it. The
        /// prices come from pelletd (the catalogue it runs and the lists it read), not the file.
        private func printPriceCheck(catalogue: Catalogue, availability: [PairKey: ModelAvailability]) throws {
            let listed = availability.values
                .filter { $0.listedInputMicroUsdPerMtok > 0 || $0.listedOutputMicroUsdPerMtok > 0 || $0.priceDiffers }
                .sorted { ($0.model, $0.provider) < ($1.model, $1.provider) }
            let differing = listed.filter(\.priceDiffers)
            if options.json {
                try Output.printJSON(listed.map(PriceCheckJSON.init))
            } else if listed.isEmpty {
                print("no provider publishes prices for the catalogue's models (or pelletd has not read a list yet)")
            } else {
                let rows = listed.map { pair in
                    [
                        pair.model, pair.provider,
                        Output.dollars(microUSD: pair.catalogueInputMicroUsdPerMtok),
                        Output.dollars(microUSD: pair.catalogueOutputMicroUsdPerMtok),
                        Output.dollars(microUSD: pair.listedInputMicroUsdPerMtok),
                        Output.dollars(microUSD: pair.listedOutputMicroUsdPerMtok),
                        pair.priceDiffers ? "DIFFERS" : "ok",
                    ]
                }
                print(
                    Output.table(
                        ["MODEL", "PROVIDER", "CAT IN $/M", "CAT OUT $/M", "LISTED IN $/M", "LISTED OUT $/M", "CHECK"],
                        rows),
                    terminator: "")
                print(
                    "\(differing.count) of \(listed.count) listed prices differ from the catalogue's; "
                        + "calls are billed at the catalogue's")
            }
            if !differing.isEmpty { throw ExitCode.failure }
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
    /// The prices the provider's model list publishes (0: none), and whether they differ from
    /// the catalogue's that pelletd bills with.
    let listed_input_micro_usd_per_million: UInt64
    let listed_output_micro_usd_per_million: UInt64
    let price_differs: Bool

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
        listed_input_micro_usd_per_million = availability?.listedInputMicroUsdPerMtok ?? 0
        listed_output_micro_usd_per_million = availability?.listedOutputMicroUsdPerMtok ?? 0
        price_differs = availability?.priceDiffers ?? false
    }
}

private struct PriceCheckJSON: Encodable {
    let model: String
    let provider: String
    let catalogue_input_micro_usd_per_million: UInt64
    let catalogue_output_micro_usd_per_million: UInt64
    let listed_input_micro_usd_per_million: UInt64
    let listed_output_micro_usd_per_million: UInt64
    let price_differs: Bool

    init(_ pair: ModelAvailability) {
        model = pair.model
        provider = pair.provider
        catalogue_input_micro_usd_per_million = pair.catalogueInputMicroUsdPerMtok
        catalogue_output_micro_usd_per_million = pair.catalogueOutputMicroUsdPerMtok
        listed_input_micro_usd_per_million = pair.listedInputMicroUsdPerMtok
        listed_output_micro_usd_per_million = pair.listedOutputMicroUsdPerMtok
        price_differs = pair.priceDiffers
    }
}
