import Foundation
import PelletMockProvider
import PelletProviders
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// What a provider's failures do to later calls: the circuit breaker, a provider marked
/// misconfigured by a 401 and rechecked later, a 429's Retry-After.
extension CompleteCallTests {
    /// Asserts that `completeRequest`, which only `provider` may serve, is refused UNAVAILABLE
    /// with `provider` named as skipped.
    private func assertSkipped(
        _ provider: ProviderName, by completeRequest: CompleteRequest, file: StaticString = #filePath,
        line: UInt = #line
    ) async {
        let call = { () async throws(RPCError) -> Void in _ = try await self.client.complete(completeRequest) }
        let refused = await expectError(.unavailable, call, file: file, line: line)
        let message = refused?.message ?? ""
        XCTAssertTrue(message.contains("\(provider.rawValue): skipped"), message, file: file, line: line)
    }

    /// Sends `completeRequest` again every `pause` until it is answered or `deadline` passes;
    /// each refusal must be UNAVAILABLE (a provider still skipped). The answer, if one came.
    private func firstAnswer(
        to completeRequest: CompleteRequest, before deadline: ContinuousClock.Instant, retryingEvery pause: Duration
    ) async throws -> CompleteResponse? {
        while ContinuousClock.now < deadline {
            do {
                return try await client.complete(completeRequest)
            } catch {
                XCTAssertEqual(error.status, .unavailable, error.message)
                try await Task.sleep(for: pause)
            }
        }
        return nil
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

    func testA401MarksTheProviderMisconfiguredAndLaterCallsSkipIt() async throws {
        let order = try await providerOrder()
        let refusing = server.mock(order[0])
        try refusing.runtime.defaultBehavior.set("status=401")
        let first = try await client.complete(request())
        assertFellBack(first, order: order)
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
        assertFellBack(first, order: order)
        XCTAssertEqual(limited.stats.snapshot.errors4xx, 1)
        let state = try await state(of: order[0])
        XCTAssertEqual(state, "degraded")

        // Within the Retry-After the provider is skipped, even by a call only it may serve.
        try limited.runtime.defaultBehavior.set("")
        let only = request(providers: [order[0].rawValue])
        await assertSkipped(order[0], by: only)
        XCTAssertEqual(limited.stats.snapshot.requests, 1)

        // After it, the provider serves again.
        let served = try await firstAnswer(to: only, before: sent + .seconds(15), retryingEvery: .milliseconds(100))
        let elapsed = ContinuousClock.now - sent
        XCTAssertEqual(served?.provider, order[0].rawValue)
        XCTAssertGreaterThanOrEqual(elapsed, .seconds(3), "served before the Retry-After passed")
        XCTAssertEqual(limited.stats.snapshot.requests, 2, "no call reached it during the Retry-After")
        XCTAssertEqual(limited.stats.snapshot.ok, 1)
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
        await assertSkipped(order[0], by: only)

        // After it, one probe goes through and the provider serves again.
        let served = try await firstAnswer(to: only, before: .now + .seconds(10), retryingEvery: .milliseconds(50))
        XCTAssertEqual(served?.provider, order[0].rawValue)
        XCTAssertEqual(refusing.stats.snapshot.requests, 2, "one refused call, then the probe that succeeded")
        // Serving again; its recent error rate may still show it as degraded.
        let recovered = try await state(of: order[0])
        XCTAssertTrue(["healthy", "degraded"].contains(recovered ?? ""), "\(recovered ?? "none")")
    }
}
