import ArgumentParser
import Foundation
import NIOCore
import PelletMockProvider

@main
struct MockProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pellet-mock-provider",
        abstract: "An OpenAI-compatible chat completions server for tests, demos and benchmarks.",
        discussion: """
            Serves POST .../chat/completions (JSON and SSE), GET /v1/models, GET /_mock/stats, \
            POST /_mock/reset, GET|POST /_mock/behavior and GET|POST /_mock/models (a JSON array \
            of model ids sets the list, null serves every model, {"status":N} makes the list \
            answer N). When ready it prints one line, \
            'pellet-mock-provider listening on http://HOST:PORT', to stdout.

            Per-request controls, in the x-mock-behavior header or after 'mock-behavior=' in the \
            model name, separated by ',' or ';': ok, status=N (429 adds Retry-After), hang, \
            malformed, disconnect-midstream, disconnect-after=N, no-done, no-usage, latency=MS, \
            ttft=MS, tps=N, tokens=N, words-per-piece=N, retry-after=S.
            """
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 lets the kernel pick one (printed when ready).")
    var port = 0

    @Option(help: "Provider name, echoed in system_fingerprint (mock-NAME) and the x-mock-provider header.")
    var name = "mock"

    @Option(help: "Delay before the response headers, in ms.")
    var latencyMs = 0

    @Option(help: "For streams: delay between the headers and the first token, in ms.")
    var ttftMs = 0

    @Option(help: "Pacing of streamed tokens; 0 sends them as fast as possible.")
    var tokensPerSecond = 0.0

    @Option(help: "Tokens in a full answer (max_tokens may cut it shorter).")
    var completionTokens = 32

    @Option(help: "Default per-request controls for every request, e.g. 'status=500' or 'latency=20,tps=100'.")
    var behavior = ""

    @Option(help: "Event loop threads; the default is one per core.")
    var threads = System.coreCount

    @Option(help: "If set, chat requests without 'Authorization: Bearer KEY' get 401.")
    var requireKey: String?

    @Option(help: "Largest request body accepted, in bytes.")
    var maxBodyBytes = 16 << 20

    @Option(
        help: """
            Comma-separated model ids served at GET /v1/models; ID=IN/OUT also publishes the \
            model's prices (USD per million tokens, Together's "pricing"). A chat request for any \
            other model gets 404 model_not_found. Default: every model is served, and GET /v1/models answers 404 \
            (no list to give).
            """
    )
    var models: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard latencyMs >= 0, ttftMs >= 0 else { throw ValidationError("--latency-ms and --ttft-ms must be >= 0") }
        guard tokensPerSecond >= 0, tokensPerSecond.isFinite else {
            throw ValidationError("--tokens-per-second must be >= 0")
        }
        guard completionTokens >= 0 else { throw ValidationError("--completion-tokens must be >= 0") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        guard !name.isEmpty else { throw ValidationError("--name must not be empty") }
        _ = try makeBehavior()
    }

    func run() async throws {
        var configuration = MockConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.name = name
        configuration.threads = threads
        configuration.requiredKey = requireKey
        configuration.behavior = try makeBehavior()
        configuration.maxBodyBytes = maxBodyBytes
        if let models {
            let parsed = try MockModelList.parse(
                entries: models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            configuration.models = parsed.models
            configuration.modelPrices = parsed.prices
        }

        let server = try await MockServer.start(configuration)
        let shownHost = host.contains(":") ? "[\(host)]" : host
        // Unbuffered, so a parent process reading the pipe gets the port at once.
        let ready = "pellet-mock-provider listening on http://\(shownHost):\(server.port)\n"
        FileHandle.standardOutput.write(Data(ready.utf8))
        try await server.waitUntilClosed()
    }

    private func makeBehavior() throws -> MockBehavior {
        var result = MockBehavior()
        result.latencyMs = latencyMs
        result.ttftMs = ttftMs
        result.tokensPerSecond = tokensPerSecond
        result.completionTokens = completionTokens
        do {
            try result.apply(behavior)
        } catch {
            throw ValidationError("--behavior: \(error.description)")
        }
        return result
    }
}
