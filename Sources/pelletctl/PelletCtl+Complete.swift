import ArgumentParser
import Foundation
import PelletClient
import PelletWire

extension PelletCtl {
    struct Complete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a prompt through Pellet: route it, call the provider, print the answer and what it cost."
        )

        @OptionGroup var options: ConnectionOptions

        @Argument(help: "The prompt, sent as one user message.")
        var prompt: String

        @Option(help: "A catalogue model id; by default the router chooses.")
        var model: String?

        @Option(help: "cost, quality, latency or balanced.")
        var preference: PreferenceArgument = .balanced

        @Option(help: "Most completion tokens.")
        var maxTokens: UInt32 = 0

        @Option(name: .customLong("provider"), help: "Allow only this provider (repeatable).")
        var providers: [String] = []

        @Flag(help: "Print the answer as it arrives.")
        var stream = false

        @Option(
            help: ArgumentHelp("The API key (plt_...). (default: $PELLET_API_KEY)", valueName: "key")
        )
        var apiKey: String?

        func validate() throws {
            guard resolvedAPIKey() != nil else {
                throw ValidationError("complete needs an API key: set PELLET_API_KEY or pass --api-key")
            }
        }

        func run() async throws {
            let request = CompleteRequest(
                credentials: Credentials(apiKey: resolvedAPIKey() ?? ""),
                messages: [ChatMessage(role: "user", content: prompt)],
                model: model ?? "",
                preference: preference.wire,
                maxTokens: maxTokens,
                providers: providers
            )
            let response: CompleteResponse = try await options.withClient { client throws(RPCError) in
                guard stream else { return try await client.complete(request, timeout: options.timeout) }
                var final: CompleteResponse?
                for try await event in client.completeStream(request, timeout: options.timeout) {
                    switch event {
                    case .delta(let text):
                        if !options.json {
                            Output.writeStreamed(text)
                        }
                    case .done(let response):
                        final = response
                    }
                }
                guard let final else { throw RPCError(.internal, "the stream ended without a final response") }
                return final
            }
            if options.json {
                try Output.printJSON(CompletionJSON(response))
                return
            }
            if stream {
                print()
            } else {
                print(response.content)
            }
            let usage = response.usage ?? TokenUsage()
            print(
                "\n" + Output.fields([
                    ("model", "\(response.model) on \(response.provider)"),
                    ("tokens", "\(usage.promptTokens) in, \(usage.completionTokens) out"),
                    ("cost", Output.dollars(microUSD: response.costMicroUsd)),
                    ("latency", "\(response.latencyMs) ms, \(response.attempts) attempt\(response.attempts == 1 ? "" : "s")"),
                    ("request", response.requestId),
                ]),
                terminator: ""
            )
        }

        private func resolvedAPIKey() -> String? {
            if let apiKey, !apiKey.isEmpty { return apiKey }
            if let key = ProcessInfo.processInfo.environment["PELLET_API_KEY"], !key.isEmpty { return key }
            return nil
        }
    }
}

private struct CompletionJSON: Encodable {
    let request_id: String
    let content: String
    let finish_reason: String
    let prompt_tokens: UInt32
    let completion_tokens: UInt32
    let cost_micro_usd: UInt64
    let model: String
    let provider: String
    let latency_ms: UInt32
    let attempts: UInt32

    init(_ response: CompleteResponse) {
        request_id = response.requestId
        content = response.content
        finish_reason = response.finishReason
        prompt_tokens = response.usage?.promptTokens ?? 0
        completion_tokens = response.usage?.completionTokens ?? 0
        cost_micro_usd = response.costMicroUsd
        model = response.model
        provider = response.provider
        latency_ms = response.latencyMs
        attempts = response.attempts
    }
}
