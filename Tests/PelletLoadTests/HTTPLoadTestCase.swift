import PelletLoadKit
import PelletMockProvider
import XCTest

/// What the `pellet-load rpc` tests over http:// share: a real in-process mock provider over
/// HTTP/1.1, and a run aimed at it. Subclasses pick the client (`nio` or `lean`).
class HTTPLoadTestCase: XCTestCase {
    /// The `--client` the subclass's tests drive.
    var client: String { "nio" }

    func withMock(
        latencyMs: Int = 0,
        ttftMs: Int = 0,
        _ body: (MockServer) async throws -> Void
    ) async throws {
        var configuration = MockConfiguration()
        configuration.threads = 1
        configuration.behavior.completionTokens = 8
        configuration.behavior.latencyMs = latencyMs
        configuration.behavior.ttftMs = ttftMs
        let mock = try await MockServer.start(configuration)
        do {
            try await body(mock)
        } catch {
            try? await mock.shutdown()
            throw error
        }
        try await mock.shutdown()
    }

    func options(
        _ target: String,
        method: String = "complete",
        model: String = "auto",
        connections: Int = 1,
        inFlight: Int = 2,
        rate: Double? = nil,
        duration: Double = 0.4,
        warmup: Double = 0.1
    ) -> LoadConfiguration.Options {
        var options = LoadConfiguration.Options(target: target)
        options.client = client
        options.method = method
        options.model = model
        options.connections = connections
        options.inFlight = inFlight
        options.rate = rate
        options.durationSeconds = duration
        options.warmupSeconds = warmup
        options.maxTokens = 8
        options.drainSeconds = 5
        return options
    }

    func run(
        _ target: String,
        method: String = "complete",
        model: String = "auto",
        connections: Int = 1,
        inFlight: Int = 2,
        rate: Double? = nil,
        duration: Double = 0.4,
        warmup: Double = 0.1
    ) async throws -> LoadReport {
        let options = options(
            target,
            method: method,
            model: model,
            connections: connections,
            inFlight: inFlight,
            rate: rate,
            duration: duration,
            warmup: warmup
        )
        return try await LoadRunner(configuration: LoadConfiguration(options: options)).run()
    }
}
