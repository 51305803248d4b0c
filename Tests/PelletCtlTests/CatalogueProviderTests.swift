import Foundation
import PelletMockProvider
import PelletTesting
import XCTest

/// A fourth provider defined by the catalogue ("local-vllm", a local OpenAI-compatible server
/// that takes no key), served by a second kind of mock instance, through a real pelletd: the
/// router chooses it, Complete reaches it, metering and Usage show it, Health lists it.
final class CatalogueProviderTests: XCTestCase {
    private let adminToken = "catalogue-provider-admin-token-0123456789"

    func testACatalogueDefinedProviderIsRoutedCalledMeteredAndListed() async throws {
        let mocks = try await MockProviders.start(MockBehavior())
        defer { mocks.shutdownLater() }
        var localConfiguration = MockConfiguration()
        localConfiguration.name = "local-vllm"
        localConfiguration.threads = 1
        let local = try await MockServer.start(localConfiguration)
        defer { Task { try? await local.shutdown() } }

        let directory = try TemporaryDirectory(prefix: "catalogue-provider")
        let cataloguePath = directory.path + "/catalogue.json"
        // The file's URL is a closed port: --provider-url must work for a defined provider too.
        try TestCatalogue(
            models: [
                .init(
                    id: "shared-model",
                    offers: [
                        .init(provider: "together", providerModel: "vendor/shared", input: 500_000, output: 1_000_000),
                        .init(provider: "local-vllm", providerModel: "shared", input: 100_000, output: 200_000),
                    ])
            ],
            providers: [.init(name: "local-vllm", baseURL: "http://127.0.0.1:9/v1", keyVariable: nil)]
        ).write(to: cataloguePath)

        let pelletd = try PelletdProcess.start(
            arguments: mocks.arguments + [
                "--catalogue", cataloguePath, "--provider-url", "local-vllm=\(local.baseURL)",
                "--discovery-interval", "off",
            ],
            environment: MockProviders.environment(adminToken: adminToken))
        let server = ["--server", pelletd.unixAddress]
        let admin = server + ["--admin-token", adminToken, "--json"]

        let route = try pelletctl(["route", "Say hello.", "--preference", "cost", "--json"] + admin)
        route.assertSucceeded()
        let decision = try jsonObject(route.stdout)
        XCTAssertEqual(decision["model"] as? String, "shared-model")
        XCTAssertEqual(decision["provider"] as? String, "local-vllm", route.stdout)
        let fallbacks = try XCTUnwrap(decision["fallbacks"] as? [[String: Any]])
        XCTAssertEqual(fallbacks.compactMap { $0["provider"] as? String }, ["together"])

        // Only the defined provider: an unknown name is refused, naming all four.
        let unknown = try pelletctl(["route", "Say hello.", "--provider", "ollama"] + admin)
        XCTAssertEqual(unknown.status, 1)
        XCTAssertEqual(
            unknown.stderr,
            "error: INVALID_ARGUMENT: unknown provider \"ollama\" in providers (expected fireworks, groq, local-vllm, together)\n")

        let created = try pelletctl(["account", "create", "--name", "Local", "--email", "local@example.com"] + admin)
        created.assertSucceeded()
        let accountID = try XCTUnwrap(try jsonObject(created.stdout)["id"] as? String)
        let key = try pelletctl(["key", "create", accountID] + admin)
        let apiKey = try XCTUnwrap(try jsonObject(key.stdout)["api_key"] as? String)
        let complete = try pelletctl(
            ["complete", "Say hello.", "--preference", "cost", "--max-tokens", "10", "--json"] + server,
            environment: ["PELLET_API_KEY": apiKey])
        complete.assertSucceeded()
        let answer = try jsonObject(complete.stdout)
        XCTAssertEqual(answer["provider"] as? String, "local-vllm")
        XCTAssertEqual(answer["completion_tokens"] as? Int, 10)
        XCTAssertEqual(local.stats.snapshot.ok, 1, "the call reached the local server")
        XCTAssertEqual(mocks.servers.map { $0.stats.snapshot.requests }, [0, 0, 0])

        let usage = try pelletctl(["usage", "--account", accountID, "--group-by", "provider", "--format", "json"] + admin)
        usage.assertSucceeded()
        let usageObject = try jsonObject(usage.stdout)
        let rows = try XCTUnwrap(usageObject["rows"] as? [[String: Any]], usage.stdout)
        XCTAssertEqual(rows.compactMap { $0["provider"] as? String }, ["local-vllm"])
        let records = try pelletctl(["usage", "--account", accountID, "--requests", "--format", "json"] + admin)
        records.assertSucceeded()
        XCTAssertTrue(records.stdout.contains(#""provider":"local-vllm""#), records.stdout)

        let health = try pelletctl(["health", "--json"] + server)
        health.assertSucceeded()
        let providers = try XCTUnwrap(try jsonObject(health.stdout)["providers"] as? [[String: Any]])
        XCTAssertEqual(providers.compactMap { $0["name"] as? String }, ["fireworks", "groq", "local-vllm", "together"])
        XCTAssertEqual(providers.compactMap { $0["state"] as? String }, ["healthy", "healthy", "healthy", "healthy"])
        try pelletd.stop()
    }

    func testAProviderURLForAProviderNoOneDefinesIsRefusedAtStartUp() throws {
        let directory = try TemporaryDirectory(prefix: "catalogue-provider")
        let result = try PelletdProcess.launch(
            dataDirectory: directory.path, arguments: ["--provider-url", "local-vllm=http://127.0.0.1:9/v1"]
        ).waitForExit()
        result.assertRefusedToStart(
            mentioning:
                "--provider-url names provider \"local-vllm\", which is neither built in nor defined in the catalogue's providers")
    }
}
