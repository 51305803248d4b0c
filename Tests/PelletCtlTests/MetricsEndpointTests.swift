import Foundation
import PelletClient
import PelletMockProvider
import PelletProviders
import PelletTesting
import PelletWire
import XCTest

/// pelletd's operators' listener, scraped over a real socket from a real pelletd serving calls to
/// the in-process mock providers: the calls made show in /metrics with their statuses, the token
/// totals equal Usage's, no prompt text reaches the metrics, and /readyz turns 503 when Complete
/// is refused because the store is full; `pellet_model_available` follows discovery as a mock
/// provider retires a model.
final class MetricsEndpointTests: XCTestCase {
    private let adminToken = "metrics-endpoint-admin-token-0123456789"

    private func makeKey(_ client: PelletClient, email: String) async throws -> (account: String, key: String) {
        let admin = Credentials(adminToken: adminToken)
        let account = try await client.account(
            AccountRequest(credentials: admin, op: .create(Account(name: "Metrics", email: email))))
        let id = try XCTUnwrap(account.account?.id)
        let key = try await client.account(
            AccountRequest(credentials: admin, op: .createKey(CreateKey(accountId: id, name: "metrics")))
        ).apiKey
        return (id, key)
    }

    func testMetricsCountTheCallsMadeAndTheirTokensWithoutAnyPromptText() async throws {
        var behavior = MockBehavior()
        behavior.completionTokens = 5
        let mocks = try await MockProviders.start(behavior)
        defer { mocks.shutdownLater() }
        let pelletd = try PelletdProcess.start(
            arguments: mocks.arguments, environment: MockProviders.environment(adminToken: adminToken))
        defer { _ = try? pelletd.stop() }
        let url = try XCTUnwrap(pelletd.metricsURL, "no metrics= in the ready line")

        XCTAssertEqual(try HTTPGet.get(url, "/livez").status, 200)
        let ready = try HTTPGet.get(url, "/readyz")
        XCTAssertEqual(ready.status, 200, ready.body)
        XCTAssertEqual(try HTTPGet.get(url, "/nowhere").status, 404)

        let client = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(pelletd.unixPath)))
        let (accountID, key) = try await makeKey(client, email: "metrics@example.com")
        let marker = "PRIVACY-MARKER-\(UInt64.random(in: 1_000_000_000...9_999_999_999))"
        let messages = [ChatMessage(role: "user", content: "Summarize this: \(marker) says hello.")]
        let credentials = Credentials(apiKey: key)
        for _ in 0..<4 {
            _ = try await client.route(RouteRequest(credentials: credentials, messages: messages))
        }
        var completed = 0
        for index in 0..<6 {
            let request = CompleteRequest(credentials: credentials, messages: messages, maxTokens: 32)
            if index % 2 == 0 {
                _ = try await client.complete(request)
            } else {
                for try await _ in client.completeStream(request) {}
            }
            completed += 1
        }
        // A call with a bad key: counted, with its status.
        do {
            _ = try await client.route(RouteRequest(credentials: Credentials(apiKey: "pk_wrong"), messages: messages))
            XCTFail("a bad key was accepted")
        } catch {
            XCTAssertEqual(error.status, .unauthenticated)
        }
        let usage = try await client.usage(UsageRequest(credentials: Credentials(adminToken: adminToken), accountId: accountID))
        let totals = try XCTUnwrap(usage.totals)

        let scrape = try HTTPGet.get(url, "/metrics")
        XCTAssertEqual(scrape.status, 200)
        XCTAssertFalse(scrape.body.contains(marker), "prompt text in /metrics")
        XCTAssertFalse(scrape.body.contains(key) || scrape.body.contains(accountID), "an account or key in /metrics")
        let samples = PrometheusSamples(scrape.body)
        XCTAssertEqual(samples["pellet_calls_total", #"method="Route",status="OK""#], 4)
        XCTAssertEqual(samples["pellet_calls_total", #"method="Route",status="UNAUTHENTICATED""#], 1)
        XCTAssertEqual(samples["pellet_calls_total", #"method="Complete",status="OK""#], Double(completed))
        XCTAssertEqual(samples["pellet_call_duration_seconds_count", #"method="Complete""#], Double(completed))
        XCTAssertEqual(samples["pellet_gateway_overhead_seconds_count"], Double(completed))
        XCTAssertEqual(
            samples.sum("pellet_provider_requests_total", matching: [#"outcome="ok""#]), Double(completed))
        XCTAssertEqual(
            samples.sum("pellet_tokens_total", matching: [#"kind="input""#]), Double(totals.promptTokens))
        XCTAssertEqual(
            samples.sum("pellet_tokens_total", matching: [#"kind="output""#]), Double(totals.completionTokens))
        XCTAssertEqual(totals.completionTokens, UInt64(5 * completed))
        XCTAssertEqual(
            samples.sum("pellet_cost_usd_total") * 1_000_000, Double(totals.costMicroUsd), accuracy: 0.5)
        XCTAssertEqual(samples.sum("pellet_provider_time_to_first_token_seconds_count"), Double(completed))
        XCTAssertEqual(samples["pellet_connections", #"transport="unix""#], 1)
        XCTAssertEqual(samples["pellet_calls_in_flight"], 0)
        XCTAssertEqual(samples["pellet_circuit_state", #"provider="together""#], 0)
        XCTAssertGreaterThan(try XCTUnwrap(samples["pellet_store_map_used_bytes"]), 0)
        XCTAssertGreaterThan(try XCTUnwrap(samples["pellet_store_commit_duration_seconds_count"]), 0)
        XCTAssertNotNil(samples["pellet_store_writer_queue_depth"])
        XCTAssertEqual(samples["pellet_budget_refusals_total"], 0)
        XCTAssertEqual(samples["pellet_rate_limited_total"], 0)
        try assertEveryFamilyIsDocumentedAndCharted(scrape.body)
        await client.close()
    }

    /// The issue's series, and only they (plus the store's refusal flag), are what pelletd
    /// exposes; the README lists each and the Grafana dashboard charts each, so neither can fall
    /// behind the code.
    private func assertEveryFamilyIsDocumentedAndCharted(_ exposition: String) throws {
        let families = Set(
            exposition.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("# TYPE ") else { return nil }
                return line.split(separator: " ").dropFirst(2).first.map(String.init)
            })
        XCTAssertEqual(
            families,
            [
                "pellet_calls_total", "pellet_call_duration_seconds", "pellet_gateway_overhead_seconds",
                "pellet_provider_requests_total", "pellet_provider_duration_seconds",
                "pellet_provider_time_to_first_token_seconds", "pellet_tokens_total", "pellet_cost_usd_total",
                "pellet_circuit_state", "pellet_model_available", "pellet_connections", "pellet_calls_in_flight",
                "pellet_store_map_used_bytes", "pellet_store_map_size_bytes", "pellet_store_commit_duration_seconds",
                "pellet_store_writer_queue_depth", "pellet_store_write_refused", "pellet_budget_refusals_total",
                "pellet_rate_limited_total",
            ])
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let dashboard = try String(contentsOf: root.appendingPathComponent("tools/grafana-dashboard.json"), encoding: .utf8)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(dashboard.utf8)) as? [String: Any])
        for family in families.sorted() {
            XCTAssertTrue(readme.contains("`\(family)"), "README.md does not list \(family)")
            XCTAssertTrue(dashboard.contains(family), "tools/grafana-dashboard.json does not chart \(family)")
        }
    }

    func testReadyzIs503WhileTheStoreRefusesWrites() async throws {
        let pelletd = try PelletdProcess.start(
            arguments: ["--map-size", "\(1 << 20)"], environment: ["PELLET_ADMIN_TOKEN": adminToken])
        defer { _ = try? pelletd.stop() }
        let url = try XCTUnwrap(pelletd.metricsURL)
        XCTAssertEqual(try HTTPGet.get(url, "/readyz").status, 200)

        // Accounts with the largest fields allowed, created 32 at a time, until the map is full.
        let client = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(pelletd.unixPath)))
        let admin = Credentials(adminToken: adminToken)
        let avatar = "https://example.com/" + String(repeating: "a", count: 2_000)
        var full = false
        var next = 0
        while !full, next < 5_000 {
            full = await withTaskGroup(of: Bool.self) { group in
                for index in next..<(next + 32) {
                    group.addTask {
                        do {
                            _ = try await client.account(
                                AccountRequest(
                                    credentials: admin,
                                    op: .create(
                                        Account(name: "Filler \(index)", email: "fill\(index)@example.com", avatarUrl: avatar))))
                            return false
                        } catch {
                            return (error as? RPCError)?.status == .resourceExhausted
                        }
                    }
                }
                return await group.contains(true)
            }
            next += 32
        }
        XCTAssertTrue(full, "the map never filled")
        let ready = try HTTPGet.get(url, "/readyz")
        XCTAssertEqual(ready.status, 503, ready.body)
        XCTAssertTrue(ready.body.contains("--map-size"), ready.body)
        XCTAssertEqual(try HTTPGet.get(url, "/livez").status, 200)
        let samples = PrometheusSamples(try HTTPGet.get(url, "/metrics").body)
        XCTAssertEqual(samples["pellet_store_write_refused"], 1)
        XCTAssertEqual(samples["pellet_store_map_size_bytes"], Double(1 << 20))
        await client.close()
    }

    func testModelAvailableFollowsDiscoveryAsAProviderRetiresAModel() async throws {
        let mocks = try await MockProviders.start(MockBehavior())
        defer { mocks.shutdownLater() }
        let engine = try ProviderEngine.quietForControl()
        defer { engine.shutdown() }
        let (together, fireworks, groq) = (mocks.servers[0], mocks.servers[1], mocks.servers[2])
        let bothModels = #"["openai/gpt-oss-120b","moonshotai/Kimi-K3"]"#
        for mock in [together, fireworks] {
            let status = await MockControl.setModels(bothModels, on: mock, using: engine)
            XCTAssertEqual(status, 200)
        }
        // Groq's list cannot be read: its pairs stay unknown.
        let failing = await MockControl.setModels(#"{"status":500}"#, on: groq, using: engine)
        XCTAssertEqual(failing, 200)
        let pelletd = try PelletdProcess.start(
            arguments: mocks.arguments + ["--discovery-interval", "200ms"],
            environment: MockProviders.environment(adminToken: adminToken))
        defer { _ = try? pelletd.stop() }
        let url = try XCTUnwrap(pelletd.metricsURL)
        let gptOnTogether = #"provider="together",model="gpt-oss-120b""#

        var samples = try await waitForSample("pellet_model_available", gptOnTogether, equalTo: 1, at: url)
        XCTAssertEqual(samples["pellet_model_available", #"provider="together",model="kimi-k3""#], 1)
        // Fireworks knows gpt-oss-120b by another id, which its list does not name.
        samples = try await waitForSample(
            "pellet_model_available", #"provider="fireworks",model="gpt-oss-120b""#, equalTo: 0, at: url)
        XCTAssertEqual(
            samples.values.keys.filter { $0.hasPrefix("pellet_model_available{provider=\"groq\"") }, [],
            "an unknown pair has a sample")
        let help = try HTTPGet.get(url, "/metrics").body.split(separator: "\n")
            .first { $0.hasPrefix("# HELP pellet_model_available ") }
        XCTAssertTrue(help?.contains("unknown") ?? false, String(describing: help))

        let retired = await MockControl.setModels(#"["moonshotai/Kimi-K3"]"#, on: together, using: engine)
        XCTAssertEqual(retired, 200)
        samples = try await waitForSample("pellet_model_available", gptOnTogether, equalTo: 0, at: url)
        XCTAssertEqual(samples["pellet_model_available", #"provider="together",model="kimi-k3""#], 1)

        let relisted = await MockControl.setModels(bothModels, on: together, using: engine)
        XCTAssertEqual(relisted, 200)
        _ = try await waitForSample("pellet_model_available", gptOnTogether, equalTo: 1, at: url)
    }

    /// Scrapes /metrics until `name{labels}` is `value` (10 s at most); returns that scrape.
    private func waitForSample(
        _ name: String, _ labels: String, equalTo value: Double, at url: String
    ) async throws -> PrometheusSamples {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let samples = PrometheusSamples(try HTTPGet.get(url, "/metrics").body)
            if samples[name, labels] == value { return samples }
            guard ContinuousClock.now < deadline else {
                XCTFail("\(name){\(labels)} is \(String(describing: samples[name, labels])), not \(value)")
                return samples
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
