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
/// in-process mock providers: unary and streamed answers, fallbacks, deadlines, cancellation,
/// budgets, rate limits, metering, privacy.
final class CompleteCallTests: XCTestCase {
    private var server: ProviderTestServer!
    private var client: PelletClient!
    private var accountID = ""
    private var apiKey = ""

    /// gpt-oss-120b is the only model all three providers serve; their prices tie, so by cost the
    /// fastest, groq, comes first.
    private static let model = "gpt-oss-120b"

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

    private func makeAccount(email: String, budget: UInt64 = 0, rpm: UInt32 = 0) async throws -> (String, String) {
        let account = try await server.store.createAccount(
            Account(name: "Complete User", email: email, monthlyBudgetMicroUsd: budget, rateLimitRpm: rpm))
        let key = try await server.store.createKey(accountID: account.id, name: "complete").plaintext
        return (account.id, key)
    }

    private func request(
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
    private func providerOrder(_ completeRequest: CompleteRequest? = nil) async throws -> [ProviderName] {
        let r = completeRequest ?? request()
        let decision = try await client.route(
            RouteRequest(
                credentials: r.credentials, messages: r.messages, model: r.model, preference: r.preference,
                maxTokens: r.maxTokens)
        ).decision!
        return ([decision.provider] + decision.fallbacks.map(\.provider)).compactMap { ProviderName(rawValue: $0) }
    }

    private func expectError(
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
    private func eventually(_ timeout: Duration = .seconds(2), _ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    /// Replaces the server of `setUp` with one using `settings` and `breakerConfiguration`.
    private func restart(
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
    private func stream(_ completeRequest: CompleteRequest) async throws(RPCError) -> (deltas: [String], final: CompleteResponse?) {
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

    private func state(of provider: ProviderName) async throws -> String? {
        try await client.health().providers.first { $0.name == provider.rawValue }?.state
    }

    private func totalMockStats() -> (prompt: Int, completion: Int, ok: Int) {
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

    // MARK: Failures and fallbacks

    func testA500FallsBackToTheNextProvider() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("status=500")
        let response = try await client.complete(request())
        XCTAssertEqual(response.provider, order[1].rawValue)
        XCTAssertEqual(response.attempts, 2)
        XCTAssertEqual(server.mock(order[0]).stats.snapshot.errors5xx, 1)
    }

    func testA429FallsBackToTheNextProviderInAStream() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("status=429")
        var final: CompleteResponse?
        for try await event in client.completeStream(request()) {
            if case .done(let response) = event { final = response }
        }
        XCTAssertEqual(final?.provider, order[1].rawValue)
        XCTAssertEqual(final?.attempts, 2)
        XCTAssertEqual(server.mock(order[0]).stats.snapshot.errors4xx, 1)
    }

    func testEveryAttemptFailingIsUnavailableListingTheAttempts() async throws {
        let order = try await providerOrder()
        XCTAssertEqual(order.count, 3)
        for mock in server.mocks.values { try mock.runtime.defaultBehavior.set("status=500") }
        let error = await expectError(.unavailable) { () throws(RPCError) in _ = try await client.complete(request()) }
        for provider in order {
            XCTAssertTrue(error?.message.contains("\(provider.rawValue): HTTP 500") ?? false, error?.message ?? "")
        }
        // The failed call is metered as an error with its three attempts.
        let usage = try server.metering.monthlyTotals(accountID: accountID)
        XCTAssertEqual(usage.last?.totals.errors, 1)
    }

    func testADeadlineShorterThanTheProviderCancelsTheTransfer() async throws {
        let order = try await providerOrder()
        let mock = server.mock(order[0])
        try mock.runtime.defaultBehavior.set("latency=2000")
        _ = await expectError(.deadlineExceeded) { () throws(RPCError) in
            _ = try await client.complete(request(), timeout: .milliseconds(200))
        }
        let ended = await eventually(.seconds(1)) { mock.stats.snapshot.cancelledByClient >= 1 }
        XCTAssertTrue(ended, "\(mock.stats.snapshot)")
    }

    func testCancelMidStreamStopsTheTransfer() async throws {
        let order = try await providerOrder()
        let mock = server.mock(order[0])
        try mock.runtime.defaultBehavior.set("tps=20,tokens=200")
        var received = 0
        for try await event in client.completeStream(request()) {
            if case .delta = event {
                received += 1
                break  // leaving the loop sends CANCEL
            }
        }
        XCTAssertEqual(received, 1)
        let ended = await eventually(.seconds(1)) { mock.stats.snapshot.cancelledByClient >= 1 }
        XCTAssertTrue(ended, "\(mock.stats.snapshot)")
        // The cancelled call is settled (metered as an error) and holds no budget.
        let settled = await eventually(.seconds(2)) {
            ((try? self.server.metering.monthlyTotals(accountID: self.accountID))?.last?.totals.requests ?? 0) == 1
        }
        XCTAssertTrue(settled)
        XCTAssertEqual(try server.metering.budgetStanding(accountID: accountID).reservedMicroUSD, 0)
    }

    func testABadRequestIsInvalidArgumentWithoutRetry() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("status=400")
        _ = await expectError(.invalidArgument) { () throws(RPCError) in _ = try await client.complete(request()) }
        for provider in order.dropFirst() {
            XCTAssertEqual(server.mock(provider).stats.snapshot.requests, 0, "no retry after a 400")
        }
    }

    func testAFailureAfterTheFirstChunkEndsTheStreamWithoutFallback() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("disconnect-after=2")
        var deltas = 0
        let error = await expectError(.unavailable) { () throws(RPCError) in
            for try await event in client.completeStream(request()) {
                if case .delta = event { deltas += 1 }
            }
        }
        XCTAssertGreaterThan(deltas, 0)
        XCTAssertTrue(error?.message.contains(order[0].rawValue) ?? false, error?.message ?? "")
        for provider in order.dropFirst() {
            XCTAssertEqual(server.mock(provider).stats.snapshot.requests, 0, "no fallback once text went out")
        }
        // Still metered: an error with the streamed tokens estimated.
        let totals = try server.metering.monthlyTotals(accountID: accountID).last?.totals
        XCTAssertEqual(totals?.errors, 1)
        XCTAssertGreaterThan(totals?.completionTokens ?? 0, 0)
    }

    func testAClientDisconnectMidStreamStopsTheTransfer() async throws {
        let order = try await providerOrder()
        let mock = server.mock(order[0])
        try mock.runtime.defaultBehavior.set("tps=20,tokens=200")
        let other = try await server.client()
        var iterator = other.completeStream(request()).makeAsyncIterator()
        let first = try await iterator.next()
        guard case .delta = first else { return XCTFail("\(String(describing: first))") }
        await other.close()
        let ended = await eventually(.seconds(1)) { mock.stats.snapshot.cancelledByClient >= 1 }
        XCTAssertTrue(ended, "\(mock.stats.snapshot)")
        let settled = await eventually(.seconds(2)) {
            ((try? self.server.metering.monthlyTotals(accountID: self.accountID))?.last?.totals.requests ?? 0) == 1
        }
        XCTAssertTrue(settled)
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

    func testTheCircuitOpensAndClosesAgain() async throws {
        await client.close()
        await server.shutdown()
        var behavior = MockBehavior()
        behavior.completionTokens = 4
        server = try await ProviderTestServer.start(
            behavior: behavior,
            breakerConfiguration: CircuitBreakerConfiguration(failureThreshold: 2, initialCooldown: .milliseconds(200)))
        client = try await server.client()
        (accountID, apiKey) = try await makeAccount(email: "circuit@example.com")
        // Only groq may serve, so every call goes to it while its circuit lets it.
        let only = request(providers: ["groq"])
        let groq = server.mock(.groq)
        try groq.runtime.defaultBehavior.set("status=500")
        for _ in 0..<2 {
            let error = await expectError(.unavailable) { () throws(RPCError) in _ = try await client.complete(only) }
            XCTAssertTrue(error?.message.contains("groq: HTTP 500") ?? false, error?.message ?? "")
        }
        var health = try await client.health()
        XCTAssertEqual(health.providers.first { $0.name == "groq" }?.state, "open")
        // Open: the call is refused without reaching the provider.
        let refused = await expectError(.unavailable) { () throws(RPCError) in _ = try await client.complete(only) }
        XCTAssertTrue(refused?.message.contains("groq: skipped") ?? false, refused?.message ?? "")
        XCTAssertEqual(groq.stats.snapshot.requests, 2)

        // After the cooldown a probe goes through; its success closes the circuit.
        try groq.runtime.defaultBehavior.set("")
        try await Task.sleep(for: .milliseconds(250))
        let probe = try await client.complete(only)
        XCTAssertEqual(probe.provider, "groq")
        XCTAssertEqual(probe.attempts, 1)
        health = try await client.health()
        XCTAssertNotEqual(health.providers.first { $0.name == "groq" }?.state, "open")
        let after = try await client.complete(only)
        XCTAssertEqual(after.provider, "groq")
        XCTAssertEqual(groq.stats.snapshot.ok, 2)
    }

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

    func testMalformedJSONFallsBackToTheNextProvider() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("malformed")
        let response = try await client.complete(request())
        XCTAssertEqual(response.provider, order[1].rawValue)
        XCTAssertEqual(response.attempts, 2)
        XCTAssertFalse(response.content.isEmpty)
        XCTAssertEqual(server.mock(order[0]).stats.snapshot.malformed, 1)
        XCTAssertEqual(server.mock(order[1]).stats.snapshot.ok, 1)
        // Metered once, as the answering provider's success with its reported tokens.
        let totals = try server.metering.monthlyTotals(accountID: accountID).last?.totals
        XCTAssertEqual(totals?.requests, 1)
        XCTAssertEqual(totals?.errors, 0)
        XCTAssertEqual(totals?.completionTokens, UInt64(server.mock(order[1]).stats.snapshot.completionTokens))
    }

    func testAMalformedStreamFallsBackToTheNextProvider() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("malformed")
        let (deltas, final) = try await stream(request())
        XCTAssertEqual(final?.provider, order[1].rawValue)
        XCTAssertEqual(final?.attempts, 2)
        XCTAssertFalse(deltas.isEmpty)
        XCTAssertEqual(server.mock(order[0]).stats.snapshot.malformed, 1)
        XCTAssertEqual(server.mock(order[1]).stats.snapshot.streamed, 1)
    }

    func testAStreamThatStopsWithoutDoneFallsBackToTheNextProvider() async throws {
        let order = try await providerOrder()
        // No text, then the end of the response without `data: [DONE]`.
        try server.mock(order[0]).runtime.defaultBehavior.set("no-done,tokens=0")
        let (deltas, final) = try await stream(request())
        let response = try XCTUnwrap(final)
        XCTAssertEqual(response.provider, order[1].rawValue)
        XCTAssertEqual(response.attempts, 2)
        XCTAssertFalse(deltas.isEmpty)
        XCTAssertEqual(server.mock(order[0]).stats.snapshot.requests, 1)
        let answered = server.mock(order[1]).stats.snapshot
        XCTAssertEqual(response.usage?.completionTokens, UInt32(answered.completionTokens))
        let totals = try server.metering.monthlyTotals(accountID: accountID).last?.totals
        XCTAssertEqual(totals?.requests, 1)
        XCTAssertEqual(totals?.errors, 0)
        XCTAssertEqual(totals?.completionTokens, UInt64(answered.completionTokens))
    }

    func testAStreamThatStopsWithoutDoneAfterTextIsUnavailableAndMetered() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("no-done")
        var deltas = 0
        let error = await expectError(.unavailable) { () throws(RPCError) in
            for try await event in client.completeStream(request()) {
                if case .delta = event { deltas += 1 }
            }
        }
        XCTAssertGreaterThan(deltas, 0)
        let message = error?.message ?? ""
        XCTAssertTrue(message.contains(order[0].rawValue) && message.contains("without [DONE]"), message)
        for provider in order.dropFirst() {
            XCTAssertEqual(server.mock(provider).stats.snapshot.requests, 0, "no fallback once text went out")
        }
        let totals = try server.metering.monthlyTotals(accountID: accountID).last?.totals
        XCTAssertEqual(totals?.requests, 1)
        XCTAssertEqual(totals?.errors, 1)
        XCTAssertGreaterThan(totals?.completionTokens ?? 0, 0)
    }

    func testA401MarksTheProviderMisconfiguredAndLaterCallsSkipIt() async throws {
        let order = try await providerOrder()
        let refusing = server.mock(order[0])
        try refusing.runtime.defaultBehavior.set("status=401")
        let first = try await client.complete(request())
        XCTAssertEqual(first.provider, order[1].rawValue)
        XCTAssertEqual(first.attempts, 2)
        XCTAssertEqual(refusing.stats.snapshot.errors4xx, 1)
        let health = try await client.health()
        XCTAssertEqual(health.providers.first { $0.name == order[0].rawValue }?.state, "misconfigured")
        XCTAssertEqual(health.providers.first { $0.name == order[1].rawValue }?.state, "healthy")

        // Even once the provider would answer again, it is not called: unary or streamed.
        try refusing.runtime.defaultBehavior.set("")
        for _ in 0..<3 {
            let response = try await client.complete(request())
            XCTAssertEqual(response.provider, order[1].rawValue)
            XCTAssertEqual(response.attempts, 1)
        }
        let (_, streamed) = try await stream(request())
        XCTAssertEqual(streamed?.provider, order[1].rawValue)
        XCTAssertEqual(streamed?.attempts, 1)
        // A call that only it may serve finds no provider.
        let refused = await expectError(.unavailable) { () throws(RPCError) in
            _ = try await client.complete(request(providers: [order[0].rawValue]))
        }
        XCTAssertTrue(refused?.message.contains(order[0].rawValue) ?? false, refused?.message ?? "")
        XCTAssertEqual(refusing.stats.snapshot.requests, 1, "a misconfigured provider gets no further calls")
        XCTAssertEqual(server.mock(order[1]).stats.snapshot.ok, 5)
        let state = try await state(of: order[0])
        XCTAssertEqual(state, "misconfigured")
    }

    func testA429KeepsTheProviderOutUntilItsRetryAfter() async throws {
        let order = try await providerOrder()
        let limited = server.mock(order[0])
        let sent = ContinuousClock.now
        try limited.runtime.defaultBehavior.set("status=429,retry-after=3")
        let first = try await client.complete(request())
        XCTAssertEqual(first.provider, order[1].rawValue)
        XCTAssertEqual(first.attempts, 2)
        XCTAssertEqual(limited.stats.snapshot.errors4xx, 1)
        let state = try await state(of: order[0])
        XCTAssertEqual(state, "degraded")

        // Within the Retry-After the provider is skipped, even by a call only it may serve.
        try limited.runtime.defaultBehavior.set("")
        let only = request(providers: [order[0].rawValue])
        let refused = await expectError(.unavailable) { () throws(RPCError) in _ = try await client.complete(only) }
        XCTAssertTrue(refused?.message.contains("\(order[0].rawValue): skipped") ?? false, refused?.message ?? "")
        XCTAssertEqual(limited.stats.snapshot.requests, 1)

        // After it, the provider serves again.
        var served: CompleteResponse?
        while served == nil, ContinuousClock.now < sent + .seconds(15) {
            do {
                served = try await client.complete(only)
            } catch {
                XCTAssertEqual(error.status, .unavailable, error.message)
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let elapsed = ContinuousClock.now - sent
        XCTAssertEqual(served?.provider, order[0].rawValue)
        XCTAssertGreaterThanOrEqual(elapsed, .seconds(3), "served before the Retry-After passed")
        XCTAssertEqual(limited.stats.snapshot.requests, 2, "no call reached it during the Retry-After")
        XCTAssertEqual(limited.stats.snapshot.ok, 1)
    }

    func testAFirstTokenTimeoutFallsBackToTheNextProvider() async throws {
        // The response head (and so the first byte) comes only after 5 s.
        try await assertAStalledStreamFallsBack(
            settings: CompleteSettings(firstTokenTimeout: .milliseconds(300)), behavior: "latency=5000")
    }

    func testAStreamIdleBeforeTheFirstTokenFallsBack() async throws {
        // The response head and the role chunk come at once, then 5 s of silence before any text.
        try await assertAStalledStreamFallsBack(
            settings: CompleteSettings(idleTimeout: .milliseconds(300)), behavior: "ttft=5000")
    }

    func testTheFirstTokenTimeoutWaitsForTextNotForTheRoleChunk() async throws {
        // The response head and the empty role chunk come at once; the first text only after 5 s.
        try await assertAStalledStreamFallsBack(
            settings: CompleteSettings(firstTokenTimeout: .milliseconds(300)), behavior: "ttft=5000")
    }

    /// With `settings`, a stream whose first provider behaves as `behavior` is answered by the
    /// second one well before the stall ends; the stalled transfer is stopped, and the stall
    /// counts as the provider's failure (degraded), not as a cancel.
    private func assertAStalledStreamFallsBack(
        settings: CompleteSettings, behavior: String, file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        try await restart(settings: settings)
        let order = try await providerOrder()
        let stalled = server.mock(order[0])
        try stalled.runtime.defaultBehavior.set(behavior)
        let started = ContinuousClock.now
        let (deltas, final) = try await stream(request())
        XCTAssertLessThan(
            ContinuousClock.now - started, .seconds(4), "the first attempt waited for the provider", file: file,
            line: line)
        XCTAssertEqual(final?.provider, order[1].rawValue, file: file, line: line)
        XCTAssertEqual(final?.attempts, 2, file: file, line: line)
        XCTAssertFalse(deltas.isEmpty, file: file, line: line)
        let ended = await eventually(.seconds(2)) { stalled.stats.snapshot.cancelledByClient == 1 }
        XCTAssertTrue(ended, "the stalled transfer was not stopped: \(stalled.stats.snapshot)", file: file, line: line)
        let state = try await state(of: order[0])
        XCTAssertEqual(state, "degraded", file: file, line: line)
    }

    func testAMisconfiguredProviderIsRecheckedAfterItsInterval() async throws {
        var breakers = CircuitBreakerConfiguration()
        breakers.misconfiguredRecheckInterval = .milliseconds(300)
        try await restart(breakerConfiguration: breakers)
        let order = try await providerOrder()
        let refusing = server.mock(order[0])
        try refusing.runtime.defaultBehavior.set("status=401")
        let first = try await client.complete(request())
        XCTAssertEqual(first.provider, order[1].rawValue)
        let marked = try await state(of: order[0])
        XCTAssertEqual(marked, "misconfigured")

        // The operator fixes the key; within the recheck interval the provider is still skipped.
        try refusing.runtime.defaultBehavior.set("")
        let only = request(providers: [order[0].rawValue])
        let refused = await expectError(.unavailable) { () throws(RPCError) in _ = try await client.complete(only) }
        XCTAssertTrue(refused?.message.contains("\(order[0].rawValue): skipped") ?? false, refused?.message ?? "")

        // After it, one probe goes through and the provider serves again.
        var served: CompleteResponse?
        let end = ContinuousClock.now + .seconds(10)
        while served == nil, ContinuousClock.now < end {
            do {
                served = try await client.complete(only)
            } catch {
                XCTAssertEqual(error.status, .unavailable, error.message)
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        XCTAssertEqual(served?.provider, order[0].rawValue)
        XCTAssertEqual(refusing.stats.snapshot.requests, 2, "one refused call, then the probe that succeeded")
        // Serving again; its recent error rate may still show it as degraded.
        let recovered = try await state(of: order[0])
        XCTAssertTrue(["healthy", "degraded"].contains(recovered ?? ""), "\(recovered ?? "none")")
    }

    func testAStreamIdleAfterTheFirstTokenIsUnavailableAndMetered() async throws {
        try await restart(settings: CompleteSettings(idleTimeout: .milliseconds(400)))
        let order = try await providerOrder()
        let stalled = server.mock(order[0])
        // The first piece at once, the next one 2 s later.
        try stalled.runtime.defaultBehavior.set("tps=0.5")
        var deltas = 0
        let error = await expectError(.unavailable) { () throws(RPCError) in
            for try await event in client.completeStream(request()) {
                if case .delta = event { deltas += 1 }
            }
        }
        XCTAssertEqual(deltas, 1)
        let message = error?.message ?? ""
        XCTAssertTrue(message.contains(order[0].rawValue) && message.contains("stream went idle"), message)
        for provider in order.dropFirst() {
            XCTAssertEqual(server.mock(provider).stats.snapshot.requests, 0, "no fallback once text went out")
        }
        let ended = await eventually(.seconds(2)) { stalled.stats.snapshot.cancelledByClient == 1 }
        XCTAssertTrue(ended, "the idle transfer was not stopped: \(stalled.stats.snapshot)")
        let totals = try server.metering.monthlyTotals(accountID: accountID).last?.totals
        XCTAssertEqual(totals?.requests, 1)
        XCTAssertEqual(totals?.errors, 1)
        XCTAssertGreaterThan(totals?.completionTokens ?? 0, 0, "the text that went out is charged")
        let state = try await state(of: order[0])
        XCTAssertEqual(state, "degraded")
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
