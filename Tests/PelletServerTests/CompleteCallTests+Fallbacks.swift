import Foundation
import PelletProviders
import PelletServer
import PelletWire
import XCTest

/// Complete calls whose provider fails: fallbacks to the next one, deadlines and cancellation,
/// malformed and cut-off answers, first-token and idle timeouts.
extension CompleteCallTests {
    /// Streams `request()` to its end, which must be UNAVAILABLE after some text, from
    /// `order[0]` alone (no fallback once text went out); the call is still metered, as one
    /// request with an error, charged for the text that went out. Returns how many deltas came
    /// and the error's message.
    private func streamFailingAfterText(
        order: [ProviderName], file: StaticString = #filePath, line: UInt = #line
    ) async throws -> (deltas: Int, message: String) {
        var deltas = 0
        let streamToItsEnd = { () async throws(RPCError) -> Void in
            for try await event in self.client.completeStream(self.request()) {
                if case .delta = event { deltas += 1 }
            }
        }
        let error = await expectError(.unavailable, streamToItsEnd, file: file, line: line)
        for provider in order.dropFirst() {
            XCTAssertEqual(
                server.mock(provider).stats.snapshot.requests, 0, "no fallback once text went out", file: file,
                line: line)
        }
        let totals = try server.metering.monthlyTotals(accountID: accountID).last?.totals
        XCTAssertEqual(totals?.requests, 1, file: file, line: line)
        XCTAssertEqual(totals?.errors, 1, file: file, line: line)
        XCTAssertGreaterThan(
            totals?.completionTokens ?? 0, 0, "the text that went out is charged", file: file, line: line)
        return (deltas, error?.message ?? "")
    }

    func testA500FallsBackToTheNextProvider() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("status=500")
        let response = try await client.complete(request())
        assertFellBack(response, order: order)
        XCTAssertEqual(server.mock(order[0]).stats.snapshot.errors5xx, 1)
    }

    func testA429FallsBackToTheNextProviderInAStream() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("status=429")
        var final: CompleteResponse?
        for try await event in client.completeStream(request()) {
            if case .done(let response) = event { final = response }
        }
        assertFellBack(final, order: order)
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
        // Still metered: an error with the streamed tokens estimated.
        let (deltas, message) = try await streamFailingAfterText(order: order)
        XCTAssertGreaterThan(deltas, 0)
        XCTAssertTrue(message.contains(order[0].rawValue), message)
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

    func testMalformedJSONFallsBackToTheNextProvider() async throws {
        let order = try await providerOrder()
        try server.mock(order[0]).runtime.defaultBehavior.set("malformed")
        let response = try await client.complete(request())
        assertFellBack(response, order: order)
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
        assertFellBack(final, order: order)
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
        assertFellBack(response, order: order)
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
        let (deltas, message) = try await streamFailingAfterText(order: order)
        XCTAssertGreaterThan(deltas, 0)
        XCTAssertTrue(message.contains(order[0].rawValue) && message.contains("without [DONE]"), message)
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

    func testAStreamIdleAfterTheFirstTokenIsUnavailableAndMetered() async throws {
        try await restart(settings: CompleteSettings(idleTimeout: .milliseconds(400)))
        let order = try await providerOrder()
        let stalled = server.mock(order[0])
        // The first piece at once, the next one 2 s later.
        try stalled.runtime.defaultBehavior.set("tps=0.5")
        let (deltas, message) = try await streamFailingAfterText(order: order)
        XCTAssertEqual(deltas, 1)
        XCTAssertTrue(message.contains(order[0].rawValue) && message.contains("stream went idle"), message)
        let ended = await eventually(.seconds(2)) { stalled.stats.snapshot.cancelledByClient == 1 }
        XCTAssertTrue(ended, "the idle transfer was not stopped: \(stalled.stats.snapshot)")
        let state = try await state(of: order[0])
        XCTAssertEqual(state, "degraded")
    }
}
