import Dispatch
import Foundation
import PelletWire
import XCTest

@testable import PelletStore

/// The ledger on its own (no store): its stripes, its cost per operation, and its guarantees
/// under threads.
final class BudgetLedgerTests: XCTestCase {
    private func ledger(
        loadSpend: @escaping @Sendable (String, UInt32) throws -> UInt64 = { _, _ in 0 }
    ) -> BudgetLedger {
        BudgetLedger(clock: { testEpoch }, loadSpend: loadSpend)
    }

    func testASlowSpendLoadHoldsUpOnlyTheAccountsOfItsStripe() throws {
        let loadStarted = DispatchSemaphore(value: 0)
        let finishLoad = DispatchSemaphore(value: 0)
        let ledger = ledger { accountID, _ in
            if accountID == "acc_slow" {
                loadStarted.signal()
                finishLoad.wait()
            }
            return 0
        }
        let slow = DispatchGroup()
        DispatchQueue.global().async(group: slow) {
            _ = try? ledger.reserve(accountID: "acc_slow", budgetMicroUSD: 0, estimateMicroUSD: 1)
        }
        XCTAssertEqual(loadStarted.wait(timeout: .now() + 10), .success)

        // Other accounts (most of them in other stripes) go on while the slow load runs.
        let admitted = DispatchSemaphore(value: 0)
        let others = DispatchGroup()
        for index in 0..<64 {
            DispatchQueue.global().async(group: others) {
                if (try? ledger.reserve(accountID: "acc_\(index)", budgetMicroUSD: 0, estimateMicroUSD: 1)) != nil {
                    admitted.signal()
                }
            }
        }
        let someWentOn = admitted.wait(timeout: .now() + 5) == .success
        finishLoad.signal()
        XCTAssertTrue(someWentOn, "a reserve for another account waited for acc_slow's spend to load")
        slow.wait()
        others.wait()
    }

    func testReserveAndReleaseCostTheSameWithTenThousandHoldsOutstanding() throws {
        let ledger = ledger()
        // Best of three, so that a preemption on a busy machine does not decide the ratio.
        func cycleTime(_ accountID: String) throws -> UInt64 {
            var best = UInt64.max
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<2_000 {
                    let reservation = try ledger.reserve(accountID: accountID, budgetMicroUSD: 0, estimateMicroUSD: 7)
                    ledger.release(reservation)
                }
                best = min(best, DispatchTime.now().uptimeNanoseconds - start)
            }
            return best
        }
        _ = try ledger.reserve(accountID: "acc_one", budgetMicroUSD: 0, estimateMicroUSD: 7)
        for _ in 0..<10_000 {
            _ = try ledger.reserve(accountID: "acc_many", budgetMicroUSD: 0, estimateMicroUSD: 7)
        }
        let one = try cycleTime("acc_one")
        let many = try cycleTime("acc_many")
        XCTAssertLessThan(
            Double(many) / Double(one), 4,
            "reserve + release took \(many / 2_000) ns with 10,000 holds, \(one / 2_000) ns with one"
        )
        XCTAssertEqual(try ledger.standing(accountID: "acc_many").reservedMicroUSD, 70_000)
    }

    func testTheSpendIsLoadedOncePerAccountAndMonthWhateverTheThreads() throws {
        let loads = LockedValue<[String: Int]>([:])
        let ledger = ledger { accountID, month in
            loads.update { $0["\(accountID)@\(month)", default: 0] += 1 }
            return 100
        }
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<2_000 {
                let accountID = "acc_\((index * 7 + thread) % 50)"
                do {
                    let reservation = try ledger.reserve(accountID: accountID, budgetMicroUSD: 0, estimateMicroUSD: 3)
                    try ledger.charge(accountID: accountID, costMicroUSD: 2, unixMs: testEpoch, settling: reservation)
                } catch {
                    XCTFail("\(error)")
                }
            }
        }
        XCTAssertEqual(loads.value.count, 50)
        XCTAssertEqual(Set(loads.value.values), [1], "each account's spend loaded once")
        var spent: UInt64 = 0
        for account in 0..<50 {
            let standing = try ledger.standing(accountID: "acc_\(account)")
            XCTAssertEqual(standing.reservedMicroUSD, 0)
            spent += standing.spentMicroUSD - 100
        }
        XCTAssertEqual(spent, 8 * 2_000 * 2)
    }

    func testForgetDropsTheHoldsAndAStaleReleaseTouchesNothingAfterwards() throws {
        let ledger = ledger()
        let old = try ledger.reserve(accountID: "acc_a", budgetMicroUSD: 100, estimateMicroUSD: 60)
        ledger.forget(accountID: "acc_a")
        XCTAssertEqual(try ledger.standing(accountID: "acc_a").reservedMicroUSD, 0)
        let new = try ledger.reserve(accountID: "acc_a", budgetMicroUSD: 100, estimateMicroUSD: 90)
        XCTAssertNotEqual(old, new)
        ledger.release(old)
        XCTAssertEqual(try ledger.standing(accountID: "acc_a").reservedMicroUSD, 90, "the new hold stays")
        ledger.release(new)
        XCTAssertEqual(try ledger.standing(accountID: "acc_a").reservedMicroUSD, 0)
    }
}

final class StripedBudgetTests: StoreTestCase {
    /// Many accounts, several threads, each reserving and settling (or releasing) through the
    /// store: every account's spend, holds and persisted total come out exact, and no budget is
    /// passed.
    func testManyAccountsAndThreadsKeepExactTotals() async throws {
        let store = try openStore()
        let metering = try await store.openMetering()
        var accounts: [String] = []
        for index in 0..<40 {
            accounts.append(try await makeAccount(store, email: "user\(index)@example.com").id)
        }
        let budget: UInt64 = 3_000
        let charged = LockedValue<[String: UInt64]>([:])
        let failures = LockedValue<[String]>([])
        let settled = DispatchGroup()
        let accountIDs = accounts
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<300 {
                let accountID = accountIDs[(index * 3 + thread) % accountIDs.count]
                let reservation: Reservation
                do {
                    reservation = try metering.reserve(accountID: accountID, budgetMicroUSD: budget, estimateMicroUSD: 50)
                } catch is BudgetError {
                    continue
                } catch {
                    failures.update { $0.append("\(error)") }
                    continue
                }
                if index % 5 == 4 {
                    metering.release(reservation)
                    continue
                }
                let cost = UInt64(10 + (index % 4) * 10)
                settled.enter()
                metering.settle(
                    reservation,
                    recording: meteringEvent("req_\(thread)_\(index)", account: accountID, cost: cost)
                ) { result in
                    if case .failure(let error) = result {
                        failures.update { $0.append("\(error)") }
                    } else {
                        charged.update { $0[accountID, default: 0] += cost }
                    }
                    settled.leave()
                }
            }
        }
        await withCheckedContinuation { continuation in
            settled.notify(queue: .global()) { continuation.resume() }
        }
        XCTAssertEqual(failures.value, [])
        for accountID in accounts {
            let standing = try metering.budgetStanding(accountID: accountID)
            let expected = charged.value[accountID] ?? 0
            XCTAssertEqual(standing.reservedMicroUSD, 0, accountID)
            XCTAssertEqual(standing.spentMicroUSD, expected, accountID)
            XCTAssertLessThanOrEqual(expected, budget, accountID)
            let persisted = try metering.monthlyTotals(accountID: accountID).first?.totals.costMicroUsd ?? 0
            XCTAssertEqual(persisted, expected, accountID)
        }
    }
}
