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

    struct Models: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the model catalogue: models, providers, prices and speeds."
        )

        @Option(help: "A catalogue file (as given to pelletd --catalogue); default the built-in one.")
        var catalogue: String?

        @Flag(help: "One JSON object per offer, for scripts.")
        var json = false

        func run() throws {
            let loaded: Catalogue
            do {
                loaded = try catalogue.map { try Catalogue(contentsOf: $0) } ?? Catalogue.loadBundled()
            } catch {
                throw RPCError(.invalidArgument, "cannot read the catalogue: \(error)")
            }
            var rows: [[String]] = []
            var offers: [OfferJSON] = []
            for model in loaded.models {
                for offer in model.offers {
                    rows.append([
                        model.id, offer.provider.rawValue, "\(model.contextWindow / 1000)k",
                        Output.dollars(microUSD: offer.inputMicroUSDPerMillionTokens),
                        Output.dollars(microUSD: offer.outputMicroUSDPerMillionTokens),
                        "\(offer.timeToFirstTokenMs) ms", "\(Int(offer.outputTokensPerSecond))",
                    ])
                    offers.append(OfferJSON(model: model, offer: offer))
                }
            }
            if json {
                try Output.printJSON(offers)
                return
            }
            print(Output.table(["MODEL", "PROVIDER", "CONTEXT", "IN $/M", "OUT $/M", "TTFT", "TOK/S"], rows), terminator: "")
            print("prices read \(loaded.pricesRead); \(loaded.models.count) models")
        }
    }
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

    init(model: CatalogueModel, offer: ProviderOffer) {
        self.model = model.id
        provider = offer.provider.rawValue
        provider_model = offer.providerModel
        context_window = model.contextWindow
        input_micro_usd_per_million = offer.inputMicroUSDPerMillionTokens
        output_micro_usd_per_million = offer.outputMicroUSDPerMillionTokens
        time_to_first_token_ms = offer.timeToFirstTokenMs
        output_tokens_per_second = offer.outputTokensPerSecond
    }
}
