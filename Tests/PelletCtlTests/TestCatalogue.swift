import Foundation

/// A small catalogue file (schema 3) for tests that give pelletd `--catalogue`: a few models,
/// each offered by the named providers at the given prices, and optional further providers.
struct TestCatalogue {
    struct Offer {
        var provider: String
        var providerModel: String
        /// Micro-USD per million tokens.
        var input: Int
        var output: Int
    }

    struct Model {
        var id: String
        var offers: [Offer]
    }

    struct Provider {
        var name: String
        var baseURL: String
        var keyVariable: String?
    }

    var models: [Model]
    var providers: [Provider] = []

    static let taskTypes = [
        "code", "math", "reasoning", "extraction", "summarization", "translation", "classification", "creative",
        "qa", "chat",
    ]

    var json: String {
        let score = #"{"score": 0.8, "benchmark": "test", "value": null, "source": "test", "url": "https://example.com", "basis": "estimate"}"#
        let quality = "{" + Self.taskTypes.map { "\"\($0)\": \(score)" }.joined(separator: ", ") + "}"
        let modelTexts = models.map { model in
            let offers = model.offers.map { offer in
                """
                {"provider": "\(offer.provider)", "model": "\(offer.providerModel)", \
                "input_micro_usd_per_mtok": \(offer.input), "output_micro_usd_per_mtok": \(offer.output), \
                "ttft_ms": 300, "output_tokens_per_s": 100, "price_source": "https://example.com/pricing"}
                """
            }
            return """
                {"id": "\(model.id)", "name": "\(model.id)", "context_window": 32000,
                 "providers": [\(offers.joined(separator: ", "))],
                 "quality": \(quality)}
                """
        }
        let providerTexts = providers.map { provider in
            let key = provider.keyVariable.map { #", "api_key_env": "\#($0)""# } ?? ""
            return #"{"name": "\#(provider.name)", "base_url": "\#(provider.baseURL)"\#(key)}"#
        }
        return """
            {
              "schema_version": 3,
              "prices_read": "2026-12-07",
              "price_sources": ["https://example.com/pricing"],
              "providers": [\(providerTexts.joined(separator: ", "))],
              "models": [
            \(modelTexts.joined(separator: ",\n"))
              ]
            }

            """
    }

    func write(to path: String) throws {
        try json.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
