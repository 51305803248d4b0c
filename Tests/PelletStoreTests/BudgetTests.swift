import Foundation
import PelletStore
import PelletWire
import XCTest

final class BudgetTests: StoreTestCase {
    private func expectRefusal(
        _ body: () throws -> Reservation,
        file: StaticString = #filePath,
        line: UInt = #line
    ) -> BudgetError? {
        do {
            let reservation = try body()
            XCTFail("expected a refusal, got \(reservation)", file: file, line: line)
        } catch let error as BudgetError {
            return error
        } catch {
            XCTFail("expected a BudgetError, got \(error)", file: file, line: line)
        }
        return nil
    }

    func testConcurrentReservationsNeverOverspend() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        let budget: UInt64 = 1_000_000
        let estimate: UInt64 = 20_000

        // 200 calls at once against room for 50: each is admitted or refused, then (if admitted)
        // runs a moment, and is either settled with a cost up to its estimate or released.
        let outcomes = try await withThrowingTaskGroup(of: (admitted: Bool, charged: UInt64).self) { group in
            for index in 0..<200 {
                group.addTask {
                    let reservation: Reservation
                    do {
                        reservation = try metering.reserve(
                            accountID: account.id,
                            budgetMicroUSD: budget,
                            estimateMicroUSD: estimate
                        )
                    } catch is BudgetError {
                        return (false, 0)
                    }
                    try await Task.sleep(for: .microseconds(UInt64(index % 5) * 300))
                    if index % 4 == 3 {
                        metering.release(reservation)
                        return (true, 0)
                    }
                    let cost = estimate - UInt64(index % 9) * 1_000
                    try await metering.settle(
                        reservation,
                        recording: meteringEvent("req_\(index)", account: account.id, cost: cost)
                    )
                    return (true, cost)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }

        let charged = outcomes.reduce(0) { $0 + $1.charged }
        let admitted = outcomes.filter(\.admitted).count
        XCTAssertGreaterThanOrEqual(admitted, Int(budget / estimate), "at least a budget's worth of calls fit")
        XCTAssertLessThan(admitted, 200, "some calls were refused")
        let persisted = try XCTUnwrap(try metering.monthlyTotals(accountID: account.id).first).totals.costMicroUsd
        XCTAssertEqual(persisted, charged, "the settled costs add up")
        XCTAssertLessThanOrEqual(persisted, budget, "never overspent")
        let standing = try metering.budgetStanding(accountID: account.id)
        XCTAssertEqual(standing.spentMicroUSD, persisted)
        XCTAssertEqual(standing.reservedMicroUSD, 0, "every hold was settled or released")

        // The ledger is exact: what is left of the budget fits, a micro-dollar more does not.
        let rest = budget - persisted
        if rest > 0 {
            let reservation = try metering.reserve(
                accountID: account.id,
                budgetMicroUSD: budget,
                estimateMicroUSD: rest
            )
            metering.release(reservation)
        }
        XCTAssertNotNil(
            expectRefusal {
                try metering.reserve(accountID: account.id, budgetMicroUSD: budget, estimateMicroUSD: rest + 1)
            }
        )
    }

    func testSequentialReservationsAreExact() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        var held: [Reservation] = []
        for _ in 0..<10 {
            held.append(try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 100))
        }
        XCTAssertNotNil(
            expectRefusal { try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 1) }
        )
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).reservedMicroUSD, 1_000)

        // Releasing twice and settling after a release change nothing more.
        metering.release(held[0])
        metering.release(held[0])
        try await metering.settle(held[1], recording: meteringEvent("req_1", account: account.id, cost: 40))
        metering.release(held[1])
        let standing = try metering.budgetStanding(accountID: account.id)
        XCTAssertEqual(standing.reservedMicroUSD, 800)
        XCTAssertEqual(standing.spentMicroUSD, 40)
        _ = try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 160)
        XCTAssertNotNil(
            expectRefusal { try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 1) }
        )

        // No limit: always admitted, still held.
        _ = try metering.reserve(accountID: account.id, budgetMicroUSD: 0, estimateMicroUSD: 5_000_000)
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).reservedMicroUSD, 5_000_960)
    }

    func testACallCostingMoreThanItsEstimateOverspendsByItsDifferenceOnly() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        let first = try metering.reserve(accountID: account.id, budgetMicroUSD: 100, estimateMicroUSD: 60)
        let second = try metering.reserve(accountID: account.id, budgetMicroUSD: 100, estimateMicroUSD: 40)
        try await metering.settle(first, recording: meteringEvent("req_1", account: account.id, cost: 75))
        try await metering.settle(second, recording: meteringEvent("req_2", account: account.id, cost: 40))
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).spentMicroUSD, 115, "over by 75 − 60")
        XCTAssertNotNil(
            expectRefusal { try metering.reserve(accountID: account.id, budgetMicroUSD: 100, estimateMicroUSD: 0) }
        )
    }

    func testTheRefusalSaysWhatWasSpentAndHeld() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        try await metering.record(meteringEvent("req_big", account: account.id, cost: 9_800_000))
        _ = try metering.reserve(accountID: account.id, budgetMicroUSD: 10_000_000, estimateMicroUSD: 150_000)

        let refusal = try XCTUnwrap(
            expectRefusal {
                try metering.reserve(accountID: account.id, budgetMicroUSD: 10_000_000, estimateMicroUSD: 120_000)
            }
        )
        XCTAssertEqual(
            refusal.description,
            "monthly budget of $10.00 reached: $9.80 spent and $0.15 reserved by calls in flight; "
                + "this call may cost up to $0.12"
        )
        XCTAssertEqual(refusal.retryAfterMs, 1_000, "the holds may settle for less")

        // With nothing held, only the next month helps: 2023-12-01 is this far from the clock.
        let other = try await makeAccount(store, email: "other@example.com")
        try await metering.record(meteringEvent("req_other", account: other.id, cost: 995))
        let monthEnd = try XCTUnwrap(
            expectRefusal {
                try metering.reserve(accountID: other.id, budgetMicroUSD: 1_000, estimateMicroUSD: 30)
            }
        )
        XCTAssertEqual(monthEnd.retryAfterMs, 1_701_388_800_000 - testEpoch)
        XCTAssertEqual(
            monthEnd.description,
            "monthly budget of $0.001 reached: $0.000995 spent and $0.00 reserved by calls in flight; "
                + "this call may cost up to $0.00003"
        )
    }

    func testMonthRolloverResetsTheSpendAndKeepsTheMonthlyTotal() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        let reservation = try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 1_000)
        try await metering.settle(reservation, recording: meteringEvent("req_nov", account: account.id, cost: 1_000))
        XCTAssertNotNil(
            expectRefusal { try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 1) }
        )

        // A call in flight across midnight on 2023-11-30 keeps its hold in December.
        clock.advance(by: 1_701_388_800_000 - 60_000 - testEpoch)
        let straddling = try metering.reserve(accountID: account.id, budgetMicroUSD: 0, estimateMicroUSD: 300)
        clock.advance(by: 60_000)
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).spentMicroUSD, 0, "a new month")
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).reservedMicroUSD, 300)
        XCTAssertNotNil(
            expectRefusal { try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 701) }
        )
        try await metering.settle(
            straddling,
            recording: meteringEvent("req_dec", account: account.id, at: clock.now, cost: 250)
        )
        _ = try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 750)

        let months = try metering.monthlyTotals(accountID: account.id)
        XCTAssertEqual(months.map { "\($0.year)-\($0.month)" }, ["2023-11", "2023-12"])
        XCTAssertEqual(months.map(\.totals.costMicroUsd), [1_000, 250])
    }

    func testTheSpendSurvivesARestart() async throws {
        var store = try openStore()
        var metering = try await openMetering(store)
        let account = try await makeAccount(store)
        try await metering.record(meteringEvent("req_1", account: account.id, cost: 900))
        store.close()

        store = try openStore()
        metering = try await openMetering(store)
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).spentMicroUSD, 900)
        XCTAssertNotNil(
            expectRefusal { try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 101) }
        )
        _ = try metering.reserve(accountID: account.id, budgetMicroUSD: 1_000, estimateMicroUSD: 100)
    }
}
