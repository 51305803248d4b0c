import Foundation
import Logging
import PelletMockProvider
import PelletProviders
import PelletTesting
import XCTest

/// `pelletctl models` against a real pelletd whose discovery reads three mock providers' lists
/// every 200 ms, while a test retires a model through a mock's control endpoint.
final class ModelsCommandTests: XCTestCase {
    private let adminToken = "models-command-admin-token-0123456789"

    func testModelsShowsEachPairsAvailabilityAsDiscoveryFindsIt() async throws {
        let mocks = try await MockProviders.start(MockBehavior())
        defer { mocks.shutdownLater() }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let engine = try ProviderEngine(logger: logger)
        defer { engine.shutdown() }
        let together = mocks.servers[0]
        let catalogueList = ["openai/gpt-oss-120b", "moonshotai/Kimi-K3"]
        for server in mocks.servers {
            let status = await MockControl.setModels(#"["openai/gpt-oss-120b","moonshotai/Kimi-K3"]"#, on: server, using: engine)
            XCTAssertEqual(status, 200)
        }
        let pelletd = try PelletdProcess.start(
            arguments: mocks.arguments + ["--discovery-interval", "200ms"],
            environment: MockProviders.environment(adminToken: adminToken))

        let available = try await waitForState("available", model: "gpt-oss-120b", provider: "together", pelletd)
        XCTAssertGreaterThan(available["state_since_unix_ms"] as? Int ?? 0, 0)
        // Fireworks knows gpt-oss-120b by another id, which its list does not name.
        let fireworks = try await waitForState("unavailable", model: "gpt-oss-120b", provider: "fireworks", pelletd)
        XCTAssertGreaterThan(fireworks["state_since_unix_ms"] as? Int ?? 0, 0)

        let retired = await MockControl.setModels(#"["moonshotai/Kimi-K3"]"#, on: together, using: engine)
        XCTAssertEqual(retired, 200)
        _ = try await waitForState("unavailable", model: "gpt-oss-120b", provider: "together", pelletd)

        let table = try pelletctl("models", "--server", pelletd.unixAddress)
        table.assertSucceeded()
        XCTAssertEqual(table.stdoutLines.first?.split(separator: " ").last, "STATE")
        let row = try XCTUnwrap(table.stdoutLines.first { $0.hasPrefix("gpt-oss-120b ") && $0.contains(" together ") })
        XCTAssertNotNil(row.firstMatch(of: #/unavailable since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/#), row)
        let kimi = try XCTUnwrap(table.stdoutLines.first { $0.hasPrefix("kimi-k3 ") && $0.contains(" together ") }, table.stdout)
        XCTAssertTrue(kimi.hasSuffix(" available"), kimi)

        // Listed again: back within a discovery interval.
        let relisted = await MockControl.setModels(
            "[" + catalogueList.map { "\"\($0)\"" }.joined(separator: ",") + "]", on: together, using: engine)
        XCTAssertEqual(relisted, 200)
        _ = try await waitForState("available", model: "gpt-oss-120b", provider: "together", pelletd)
        let log = try pelletd.stop().stderr
        XCTAssertTrue(log.contains("model unavailable on a provider"), log)
        XCTAssertTrue(log.contains("model available again on a provider"), log)
    }

    /// Polls `pelletctl models --json` until the pair has `state`; returns its object.
    private func waitForState(
        _ state: String, model: String, provider: String, _ pelletd: PelletdProcess
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let result = try pelletctl("models", "--json", "--server", pelletd.unixAddress)
            result.assertSucceeded()
            let offers = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
            let pair = offers.first { $0["model"] as? String == model && $0["provider"] as? String == provider }
            if let pair, pair["state"] as? String == state { return pair }
            guard ContinuousClock.now < deadline else {
                XCTFail("\(model) on \(provider) is not \(state): \(String(describing: pair))")
                return pair ?? [:]
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
