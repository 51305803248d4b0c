import Foundation
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
        let engine = try ProviderEngine.quietForControl()
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

    /// A price Together publishes in its model list that is not the catalogue's: pelletd logs it
    /// once, `pelletctl models --check` shows it and exits 1, and the JSON carries both prices.
    func testAListedPriceThatDiffersFromTheCatalogueIsReportedNotBilled() async throws {
        let mocks = try await MockProviders.start(MockBehavior())
        defer { mocks.shutdownLater() }
        let engine = try ProviderEngine.quietForControl()
        defer { engine.shutdown() }
        let directory = try TemporaryDirectory(prefix: "models-check")
        let cataloguePath = directory.path + "/catalogue.json"
        try TestCatalogue(models: [
            .init(id: "other-model", offers: [.init(provider: "together", providerModel: "vendor/other", input: 200_000, output: 400_000)]),
            .init(id: "priced-model", offers: [.init(provider: "together", providerModel: "vendor/priced", input: 150_000, output: 600_000)]),
        ]).write(to: cataloguePath)
        // Together's shape: USD per million tokens. The output price went up from $0.60 to $0.75.
        let status = await MockControl.setModels(
            #"[{"id":"vendor/priced","pricing":{"input":0.15,"output":0.75}},{"id":"vendor/other","pricing":{"input":0.2,"output":0.4}}]"#,
            on: mocks.servers[0], using: engine)
        XCTAssertEqual(status, 200)
        let pelletd = try PelletdProcess.start(
            arguments: mocks.arguments + ["--catalogue", cataloguePath, "--discovery-interval", "200ms"],
            environment: MockProviders.environment(adminToken: adminToken))
        let differs = try await waitForState(
            "available", model: "priced-model", provider: "together", pelletd, catalogue: cataloguePath,
            and: { $0["price_differs"] as? Bool == true })
        XCTAssertEqual(differs["listed_output_micro_usd_per_million"] as? Int, 750_000)
        XCTAssertEqual(differs["output_micro_usd_per_million"] as? Int, 600_000)
        XCTAssertEqual(differs["price_differs"] as? Bool, true)

        let check = try pelletctl("models", "--check", "--catalogue", cataloguePath, "--server", pelletd.unixAddress)
        XCTAssertEqual(check.status, 1)
        XCTAssertEqual(check.stderr, "")
        XCTAssertEqual(
            check.stdout,
            """
            MODEL         PROVIDER  CAT IN $/M  CAT OUT $/M  LISTED IN $/M  LISTED OUT $/M  CHECK
            other-model   together  $0.20       $0.40        $0.20          $0.40           ok
            priced-model  together  $0.15       $0.60        $0.15          $0.75           DIFFERS
            1 of 2 listed prices differ from the catalogue's; calls are billed at the catalogue's

            """)
        let json = try pelletctl("models", "--check", "--json", "--server", pelletd.unixAddress)
        XCTAssertEqual(json.status, 1)
        let pairs = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(pairs.compactMap { $0["price_differs"] as? Bool }, [false, true])

        // Three more discoveries: the same difference is not logged again.
        try await Task.sleep(for: .milliseconds(700))
        let log = try pelletd.stop().stderr
        let warnings = log.components(separatedBy: "the provider's listed price differs from the catalogue's").count - 1
        XCTAssertEqual(warnings, 1, log)
    }

    /// Polls `pelletctl models --json` until the pair has `state`; returns its object.
    private func waitForState(
        _ state: String, model: String, provider: String, _ pelletd: PelletdProcess, catalogue: String? = nil,
        and condition: ([String: Any]) -> Bool = { _ in true }
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let result = try pelletctl(
                ["models", "--json", "--server", pelletd.unixAddress] + (catalogue.map { ["--catalogue", $0] } ?? []))
            result.assertSucceeded()
            let offers = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
            let pair = offers.first { $0["model"] as? String == model && $0["provider"] as? String == provider }
            if let pair, pair["state"] as? String == state, condition(pair) { return pair }
            guard ContinuousClock.now < deadline else {
                XCTFail("\(model) on \(provider) is not \(state): \(String(describing: pair))")
                return pair ?? [:]
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
