import Foundation
import PelletClient
import PelletMockProvider
import PelletProviders
import PelletServer
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// The Complete call (method 2) over a real socket, through a real provider engine, against three
/// in-process mock providers: unary and streamed answers, many calls at once, budgets, rate
/// limits, metering, privacy. Fallbacks, deadlines, cancellation and timeouts are in
/// `CompleteCallTests+Fallbacks.swift`, what failures do to later calls (the circuit breaker,
/// misconfigured and rate-limited providers) in `CompleteCallTests+ProviderHealth.swift`.
final class CompleteCallTests: XCTestCase {
    var server: ProviderTestServer!
    var client: PelletClient!
    var accountID = ""
    var apiKey = ""

    /// gpt-oss-120b is the only model all three providers serve; their prices tie, so by cost the
    /// fastest, groq, comes first.
    static let model = "gpt-oss-120b"

    override func setUp() async throws {
        var behavior = MockBehavior()
        behavior.completionTokens = 8
        server = try await ProviderTestServer.start(behavior: behavior)
        client = try await server.client()
        (accountID, apiKey) = try await makeAccount(email: "complete@example.com")
    }

    override func tearDown() async throws {
        await client?.close()
        await server?.shutdown()
        (client, server) = (nil, nil)
    }

    func makeAccount(email: String, budget: UInt64 = 0, rpm: UInt32 = 0) async throws -> (String, String) {
        let account = try await server.store.createAccount(
            Account(name: "Complete User", email: email, monthlyBudgetMicroUsd: budget, rateLimitRpm: rpm))
        let key = try await server.store.createKey(accountID: account.id, name: "complete").plaintext
        return (account.id, key)
    }

    func request(
        _ prompt: String = "Say hello to the gateway.", key: String? = nil, providers: [String] = []
    ) -> CompleteRequest {
        CompleteRequest(
            credentials: Credentials(apiKey: key ?? apiKey),
            messages: [ChatMessage(role: "user", content: prompt)],
            model: Self.model,
            preference: .cost,
            maxTokens: 64,
            providers: providers
        )
    }

    /// The decision the call will follow (with every provider healthy): primary, then fallbacks.
    func providerOrder(_ completeRequest: CompleteRequest? = nil) async throws -> [ProviderName] {
        let r = completeRequest ?? request()
        let decision = try await client.route(
            RouteRequest(
                credentials: r.credentials, messages: r.messages, model: r.model, preference: r.preference,
                maxTokens: r.maxTokens)
        ).decision!
        return ([decision.provider] + decision.fallbacks.map(\.provider)).compactMap { ProviderName(rawValue: $0) }
    }

    func expectError(
        _ status: Status, _ body: () async throws(RPCError) -> Void, file: StaticString = #filePath, line: UInt = #line
    ) async -> RPCError? {
        do {
            try await body()
            XCTFail("expected \(status.name)", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.status, status, error.message, file: file, line: line)
            return error
        }
    }

    /// Polls `condition` for up to `timeout`.
    func eventually(_ timeout: Duration = .seconds(2), _ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    /// Replaces the server of `setUp` with one using `settings` and `breakerConfiguration`.
    func restart(
        settings: CompleteSettings = CompleteSettings(),
        breakerConfiguration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        completionTokens: Int = 8
    ) async throws {
        await client.close()
        await server.shutdown()
        var behavior = MockBehavior()
        behavior.completionTokens = completionTokens
        server = try await ProviderTestServer.start(
            behavior: behavior, settings: settings, breakerConfiguration: breakerConfiguration)
        client = try await server.client()
        (accountID, apiKey) = try await makeAccount(email: "complete-restarted@example.com")
    }

    /// Runs a streamed call to its end: the deltas and the final response.
    func stream(_ completeRequest: CompleteRequest) async throws(RPCError) -> (deltas: [String], final: CompleteResponse?) {
        var deltas: [String] = []
        var final: CompleteResponse?
        for try await event in client.completeStream(completeRequest) {
            switch event {
            case .delta(let text): deltas.append(text)
            case .done(let response): final = response
            }
        }
        return (deltas, final)
    }

    /// Asserts that `response` is the second provider's, on the call's second attempt: the first
    /// one (`order[0]`) failed and the call fell back.
    func assertFellBack(
        _ response: CompleteResponse?, order: [ProviderName], file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(response?.provider, order[1].rawValue, file: file, line: line)
        XCTAssertEqual(response?.attempts, 2, file: file, line: line)
    }

    func state(of provider: ProviderName) async throws -> String? {
        try await client.health().providers.first { $0.name == provider.rawValue }?.state
    }

    func totalMockStats() -> (prompt: Int, completion: Int, ok: Int) {
        server.mocks.values.reduce(into: (0, 0, 0)) { sum, mock in
            let s = mock.stats.snapshot
            sum.0 += s.promptTokens
            sum.1 += s.completionTokens
            sum.2 += s.ok
        }
    }

    // MARK: Answers

    func testAUnaryCompletion() async throws {
        let order = try await providerOrder()
        let response = try await client.complete(request())
        XCTAssertTrue(response.requestId.hasPrefix("req_"), response.requestId)
        XCTAssertFalse(response.content.isEmpty)
        XCTAssertFalse(response.finishReason.isEmpty)
        XCTAssertEqual(response.provider, order[0].rawValue)
        XCTAssertEqual(response.model, Self.model)
        XCTAssertEqual(response.attempts, 1)
        XCTAssertEqual(response.route?.model, Self.model)
        let stats = server.mock(order[0]).stats.snapshot
        XCTAssertEqual(stats.ok, 1)
        XCTAssertEqual(response.usage?.promptTokens, UInt32(stats.promptTokens))
        XCTAssertEqual(response.usage?.completionTokens, UInt32(stats.completionTokens))
        XCTAssertGreaterThan(response.costMicroUsd, 0)
    }

    /// A prompt-cache hit reported by the provider (`prompt_tokens_details.cached_tokens`) is
    /// billed at the catalogue's cached-input price and kept in the usage, the record and the totals.
    func testCachedPromptTokensAreBilledAtTheCachedPrice() async throws {
        // groq: gpt-oss-120b at $0.15 input, $0.075 cached input, $0.60 output per million.
        try server.mock(.groq).runtime.defaultBehavior.set("cached=1000")
        let prompt = String(repeating: "Summarise the quarterly report in one line. ", count: 300)
        for stream in [false, true] {
            var response: CompleteResponse?
            if stream {
                for try await event in client.completeStream(request(prompt, providers: ["groq"])) {
                    if case .done(let final) = event { response = final }
                }
            } else {
                response = try await client.complete(request(prompt, providers: ["groq"]))
            }
            let answered = try XCTUnwrap(response)
            let usage = try XCTUnwrap(answered.usage)
            XCTAssertEqual(answered.provider, "groq")
            XCTAssertGreaterThan(usage.promptTokens, 1000)
            XCTAssertEqual(usage.cachedPromptTokens, 1000)
            let numerator =
                UInt64(usage.promptTokens - 1000) * 150_000 + 1000 * 75_000 + UInt64(usage.completionTokens) * 600_000
            XCTAssertEqual(answered.costMicroUsd, (numerator + 999_999) / 1_000_000, "stream: \(stream)")
        }
        let totals = try XCTUnwrap(server.metering.monthlyTotals(accountID: accountID).last?.totals)
        XCTAssertEqual(totals.cachedPromptTokens, 2000)
        let records = try await client.usage(
            UsageRequest(credentials: Credentials(apiKey: apiKey), listRequests: true, limit: 10))
        XCTAssertEqual(records.requests.map { $0.usage?.cachedPromptTokens }, [1000, 1000])
        XCTAssertEqual(records.totals?.cachedPromptTokens, 2000)
    }

    func testAStreamedCompletionSendsChunksThenEnd() async throws {
        var deltas: [String] = []
        var final: CompleteResponse?
        for try await event in client.completeStream(request()) {
            switch event {
            case .delta(let text): deltas.append(text)
            case .done(let response): final = response
            }
        }
        let response = try XCTUnwrap(final)
        XCTAssertGreaterThan(deltas.count, 1)
        XCTAssertFalse(deltas.joined().isEmpty)
        XCTAssertEqual(response.content, "")
        XCTAssertEqual(response.attempts, 1)
        let stats = try XCTUnwrap(ProviderName(rawValue: response.provider).map { server.mock($0).stats.snapshot })
        XCTAssertEqual(stats.streamed, 1)
        XCTAssertEqual(response.usage?.completionTokens, UInt32(stats.completionTokens))
        XCTAssertEqual(response.usage?.promptTokens, UInt32(stats.promptTokens))
        XCTAssertGreaterThan(response.costMicroUsd, 0)
    }

    /// Found by LeakSanitizer: a finished call stayed in memory for good, prompt included (its
    /// cancellation handler held the call, and the call's context held the cancellation; for a
    /// streamed call, likewise its stream writer's writability handler).
    func testAFinishedCallIsNotKeptInMemory() async throws {
        _ = try await client.complete(request())
        for try await _ in client.completeStream(request()) {}
        _ = try? await client.complete(request(key: "plt_unknown"))
        // Freed once the connection has let go of the answered calls, which follows the answer.
        let deadline = ContinuousClock.now + .seconds(5)
        while server.complete.callsStillInMemory > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertEqual(server.complete.callsStillInMemory, 0, "answered calls still held")
    }

    func testHealthListsTheProviders() async throws {
        let health = try await client.health()
        XCTAssertEqual(health.providers.map(\.name), ["fireworks", "groq", "together"])
        XCTAssertEqual(Set(health.providers.map(\.state)), ["healthy"])
    }

    func testMissingUsageIsEstimated() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("no-usage")
        let response = try await client.complete(request())
        XCTAssertGreaterThan(response.usage?.promptTokens ?? 0, 0)
        XCTAssertGreaterThan(response.usage?.completionTokens ?? 0, 0)
        XCTAssertGreaterThan(response.costMicroUsd, 0)
    }

    func testABadKeyIsUnauthenticated() async throws {
        _ = await expectError(.unauthenticated) { () throws(RPCError) in
            _ = try await client.complete(request(key: "plt_nope"))
        }
        XCTAssertEqual(totalMockStats().ok, 0)
    }

    // MARK: Many calls at once

    /// The mock is plain HTTP/1.1: 50 calls sent at once must reach it at once (a connection
    /// each), not one after another behind a connection they wait to multiplex on.
    func testFiftyCompletesSentAtOnceReachAPlainHTTPProviderConcurrently() async throws {
        let groq = server.mock(.groq)
        try groq.runtime.defaultBehavior.set("latency=300")
        groq.stats.reset()
        let client = self.client!
        let base = request(providers: ["groq"])
        let started = ContinuousClock.now
        let providers = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<50 {
                group.addTask { try await client.complete(base).provider }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(providers, Array(repeating: "groq", count: 50))
        XCTAssertEqual(groq.stats.snapshot.mostInFlight, 50)
        XCTAssertEqual(groq.stats.snapshot.ok, 50)
        // One after another would take 50 × 300 ms.
        XCTAssertLessThan(elapsed, .seconds(5))
    }

    func testManyConcurrentStreamsOnOneConnectionAllComplete() async throws {
        let count = 500
        let client = self.client!
        let base = request()
        let results = try await withThrowingTaskGroup(of: (Int, UInt32).self) { group in
            for _ in 0..<count {
                group.addTask {
                    var deltas = 0
                    var tokens: UInt32 = 0
                    for try await event in client.completeStream(base, timeout: .seconds(30)) {
                        switch event {
                        case .delta: deltas += 1
                        case .done(let response): tokens = response.usage?.completionTokens ?? 0
                        }
                    }
                    return (deltas, tokens)
                }
            }
            var all: [(Int, UInt32)] = []
            for try await result in group { all.append(result) }
            return all
        }
        XCTAssertEqual(results.count, count)
        XCTAssertTrue(results.allSatisfy { $0.0 > 0 && $0.1 > 0 })
        XCTAssertEqual(totalMockStats().ok, count)
        let totals = try server.metering.monthlyTotals(accountID: accountID).last?.totals
        XCTAssertEqual(totals?.requests, UInt64(count))
        XCTAssertEqual(totals?.completionTokens, UInt64(totalMockStats().completion))
    }

    // MARK: Budget and rate limit

    func testBudgetRefusal() async throws {
        let (_, key) = try await makeAccount(email: "tiny@example.com", budget: 1)
        let error = await expectError(.resourceExhausted) { () throws(RPCError) in
            _ = try await client.complete(request(key: key))
        }
        XCTAssertTrue(error?.message.contains("monthly budget") ?? false, error?.message ?? "")
        XCTAssertEqual(totalMockStats().ok, 0, "a refused call reaches no provider")
    }

    func testABudgetRefusalUsesNoRateLimitSlot() async throws {
        let (accountID, key) = try await makeAccount(email: "tiny-and-slow@example.com", budget: 1, rpm: 1)
        for _ in 0..<2 {
            let refused = await expectError(.resourceExhausted) { () throws(RPCError) in
                _ = try await client.complete(request(key: key))
            }
            XCTAssertTrue(refused?.message.contains("monthly budget") ?? false, refused?.message ?? "")
        }
        // Nothing is held for the refused calls.
        let standing = try server.metering.budgetStanding(accountID: accountID)
        XCTAssertEqual(standing.reservedMicroUSD, 0)
    }

    func testARateLimitRefusalHoldsNoBudget() async throws {
        let (accountID, key) = try await makeAccount(email: "slow-with-budget@example.com", budget: 5_000_000, rpm: 1)
        _ = try await client.complete(request(key: key))
        _ = await expectError(.resourceExhausted) { () throws(RPCError) in
            _ = try await client.complete(request(key: key))
        }
        let standing = try server.metering.budgetStanding(accountID: accountID)
        XCTAssertEqual(standing.reservedMicroUSD, 0, "the refused call's reservation was released")
    }

    func testRateLimit() async throws {
        let (_, key) = try await makeAccount(email: "slow@example.com", rpm: 1)
        _ = try await client.complete(request(key: key))
        let error = await expectError(.resourceExhausted) { () throws(RPCError) in
            _ = try await client.complete(request(key: key))
        }
        XCTAssertGreaterThan(error?.retryAfterMs ?? 0, 0)
    }

    // MARK: Metering and privacy

    func testMeteringMatchesTheMockAndNoPromptTextIsStored() async throws {
        let marker = "ZEBRAQUOKKA\(UInt32.random(in: 100_000...999_999))"
        let prompt = "Please repeat the word \(marker) back to me."
        var completions = ""
        for _ in 0..<2 {
            completions += try await client.complete(request(prompt)).content
        }
        for try await event in client.completeStream(request(prompt)) {
            if case .delta(let text) = event { completions += text }
        }
        let mock = totalMockStats()
        XCTAssertEqual(mock.ok, 3)
        let months = try server.metering.monthlyTotals(accountID: accountID)
        let totals = try XCTUnwrap(months.last?.totals)
        XCTAssertEqual(totals.requests, 3)
        XCTAssertEqual(totals.errors, 0)
        XCTAssertEqual(totals.promptTokens, UInt64(mock.prompt))
        XCTAssertEqual(totals.completionTokens, UInt64(mock.completion))
        XCTAssertGreaterThan(totals.costMicroUsd, 0)

        let dump = try mdbDump(server.server.directory.file("data"))
        XCTAssertFalse(dump.isEmpty)
        XCTAssertFalse(dump.contains(marker), "the prompt reached LMDB")
        // A phrase of the completion text is not stored either.
        let words = completions.split(separator: " ").prefix(3).joined(separator: " ")
        if words.count >= 12 { XCTAssertFalse(dump.contains(words), "the completion reached LMDB") }
    }
}