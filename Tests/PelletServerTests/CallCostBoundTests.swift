import Foundation
import PelletClient
import PelletMockProvider
import PelletServer
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// Every Complete call has a bounded cost: the provider is always sent a `max_tokens`, the budget
/// reserves the worst case, and the charge never passes the reservation, whatever usage the
/// provider reports. Over a real socket against the in-process mocks.
final class CallCostBoundTests: XCTestCase {
    private var server: ProviderTestServer!
    private var client: PelletClient!

    override func tearDown() async throws {
        await client?.close()
        await server?.shutdown()
        (client, server) = (nil, nil)
    }

    private func start(_ behavior: MockBehavior) async throws {
        server = try await ProviderTestServer.start(behavior: behavior, settings: CompleteSettings(defaultMaxTokens: 700))
        client = try await server.client()
    }

    private func makeKey(budget: UInt64 = 0) async throws -> (account: String, key: String) {
        let account = try await server.store.createAccount(
            Account(name: "Bounded", email: "bounded\(UUID().uuidString.prefix(8))@example.com", monthlyBudgetMicroUsd: budget))
        return (account.id, try await server.store.createKey(accountID: account.id, name: "k").plaintext)
    }

    private func request(_ key: String, maxTokens: UInt32 = 0) -> CompleteRequest {
        CompleteRequest(
            credentials: Credentials(apiKey: key),
            messages: [ChatMessage(role: "user", content: "Write a haiku about rivers.")],
            model: "gpt-oss-120b",
            maxTokens: maxTokens
        )
    }

    /// What the call reserves: the largest worst case among the candidates the router offers.
    private func worstCase(_ key: String) async throws -> UInt64 {
        let probe = request(key)
        let routed = try await client.route(
            RouteRequest(credentials: probe.credentials, messages: probe.messages, model: probe.model, maxTokens: 700))
        let decision = try XCTUnwrap(routed.decision)
        return ([decision.estCostMicroUsd] + decision.fallbacks.map(\.estCostMicroUsd)).max() ?? 0
    }

    func testEveryAttemptCarriesAnExplicitMaxTokens() async throws {
        var behavior = MockBehavior()
        behavior.completionTokens = 5
        try await start(behavior)
        let (_, key) = try await makeKey()
        _ = try await client.complete(request(key))
        _ = try await client.complete(request(key, maxTokens: 33))
        var stream = request(key)
        stream.maxTokens = 0
        for try await _ in client.completeStream(stream) {}
        let seen = server.mocks.values.map(\.stats.snapshot)
        XCTAssertEqual(seen.reduce(0) { $0 + $1.requests }, 3)
        XCTAssertEqual(seen.reduce(0) { $0 + $1.withoutMaxTokens }, 0, "a provider request without max_tokens")
        XCTAssertEqual(seen.map(\.largestMaxTokens).max(), 700, "the default max_tokens was not sent")
    }

    func testAProviderReportingHugeUsageCannotChargePastTheBudget() async throws {
        var behavior = MockBehavior()
        behavior.completionTokens = 5
        // The provider claims ten million output tokens for a five-token answer.
        behavior.reportedCompletionTokens = 10_000_000
        try await start(behavior)
        let (_, probeKey) = try await makeKey()
        let reservation = try await worstCase(probeKey)
        XCTAssertGreaterThan(reservation, 0)
        let (accountID, key) = try await makeKey(budget: reservation + 1)

        let first = try await client.complete(request(key))
        XCTAssertEqual(first.costMicroUsd, reservation, "charged past the reservation")
        // The budget holds: spend is the reservation, and the next call's worst case does not fit.
        do {
            _ = try await client.complete(request(key))
            XCTFail("a second call was admitted past the budget")
        } catch {
            XCTAssertEqual(error.status, .resourceExhausted, error.message)
        }
        do {
            for try await _ in client.completeStream(request(key)) {}
            XCTFail("a stream was admitted past the budget")
        } catch {
            XCTAssertEqual(error.status, .resourceExhausted, "\(error)")
        }
        let (records, totals) = try await client.allRequestRecords(accountID: accountID, adminToken: TestServer.adminToken)
        XCTAssertLessThanOrEqual(try XCTUnwrap(totals).costMicroUsd, reservation + 1)
        XCTAssertEqual(records.map(\.costMicroUsd).reduce(0, +), reservation)
        XCTAssertEqual(try server.metering.budgetStanding(accountID: accountID).spentMicroUSD, reservation)
    }

    func testSamplingParametersOutOfRangeAreRefusedAndZeroIsAValue() async throws {
        var behavior = MockBehavior()
        behavior.completionTokens = 3
        try await start(behavior)
        let (_, key) = try await makeKey()
        for (temperature, topP, field) in [
            (Float(2.5), Float?.none, "temperature"), (.nan, nil, "temperature"), (-0.1, nil, "temperature"),
            (nil, 1.5, "top_p"), (nil, -.infinity, "top_p"),
        ] {
            var bad = request(key)
            bad.temperature = temperature
            bad.topP = topP
            do {
                _ = try await client.complete(bad)
                XCTFail("\(field) \(String(describing: temperature ?? topP)) was accepted")
            } catch {
                XCTAssertEqual(error.status, .invalidArgument, error.message)
                XCTAssertTrue(error.message.hasPrefix(field), error.message)
            }
        }
        var greedy = request(key)
        greedy.temperature = 0
        greedy.topP = 0
        let answer = try await client.complete(greedy)
        XCTAssertFalse(answer.content.isEmpty)
        XCTAssertEqual(server.mocks.values.reduce(0) { $0 + $1.stats.snapshot.requests }, 1)
    }
}
