import Foundation
import PelletStore
import PelletWire
import XCTest

final class RetentionTests: StoreTestCase {
    private struct CounterKey: Hashable {
        var account: String
        var day: UInt32
        var model: String
    }

    /// Two events a day (the first and the last millisecond) over `days` days up to today, with
    /// alternating models so that days hold more than one counter.
    private func dailyEvents(account: String, days: UInt32) -> [MeteringEvent] {
        (0..<days).flatMap { back -> [MeteringEvent] in
            let day = testDay - back
            let start = UsageCalendar.startOfDay(day)
            return [
                meteringEvent("req_\(day)_first", account: account, at: start, model: "m\(day % 3)", cost: 10),
                meteringEvent(
                    "req_\(day)_last",
                    account: account,
                    at: start + UsageCalendar.millisecondsPerDay - 1,
                    model: "m\(day % 2)",
                    cost: 1
                ),
            ]
        }
        .filter { $0.unixMs <= testEpoch }
    }

    func testRetentionDeletesExactlyWhatIsOlderThanThePeriod() async throws {
        let store = try openStore()
        let metering = try await openMetering(store, retentionDays: 90)
        let old = try await makeAccount(store, email: "old@example.com")
        let young = try await makeAccount(store, email: "young@example.com")
        let oldEvents = dailyEvents(account: old.id, days: 120)
        let youngEvents = dailyEvents(account: young.id, days: 30)
        try await metering.record(contentsOf: oldEvents + youngEvents)
        let monthsBefore = try metering.monthlyTotals(accountID: old.id)
        XCTAssertEqual(monthsBefore.count, 5, "July to November")

        let firstKept = testDay - 89
        let expired = oldEvents.filter { UsageCalendar.day(unixMs: $0.unixMs) < firstKept }
        let expiredCounters = Set(
            expired.map {
                CounterKey(account: $0.accountID, day: UsageCalendar.day(unixMs: $0.unixMs), model: $0.model)
            }
        )
        XCTAssertEqual(expired.count, 60)
        XCTAssertEqual(
            try metering.usage(accountID: old.id, fromDay: testDay - 95, toDay: testDay - 90).totals?.requests,
            12
        )

        let deleted = try await metering.enforceRetention()
        XCTAssertEqual(deleted, expired.count + expiredCounters.count)

        let gone = try metering.usage(
            accountID: old.id,
            fromDay: testDay - 119,
            toDay: testDay - 90,
            listRequests: true
        )
        XCTAssertEqual(gone.totals, UsageTotals())
        XCTAssertEqual(gone.requests, [])
        let kept = oldEvents.filter { UsageCalendar.day(unixMs: $0.unixMs) >= firstKept }
        let remaining = try metering.usage(
            accountID: old.id,
            fromDay: firstKept,
            toDay: testDay,
            groupBy: [.day],
            listRequests: true,
            limit: 1_000
        )
        XCTAssertEqual(remaining.totals, UsageTotals(summing: kept))
        XCTAssertEqual(remaining.rows.first?.day, firstKept, "the first kept day is whole")
        XCTAssertEqual(Set(remaining.requests.map(\.requestId)), Set(kept.map(\.requestID)))
        XCTAssertEqual(try metering.usage(accountID: young.id).totals, UsageTotals(summing: youngEvents))

        XCTAssertEqual(try metering.monthlyTotals(accountID: old.id), monthsBefore, "billing totals are kept")
        let again = try await metering.enforceRetention()
        XCTAssertEqual(again, 0)

        // A day later, one more day has expired.
        clock.advance(by: UsageCalendar.millisecondsPerDay)
        let nextDay = try await metering.enforceRetention()
        XCTAssertEqual(nextDay, 2 + Set(["m\(firstKept % 3)", "m\(firstKept % 2)"]).count)
    }

    func testRetentionDeletesInBoundedBatches() async throws {
        let store = try openStore(configuration(durability: .batched))
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        let oldTime = UsageCalendar.startOfDay(testDay - 100)

        func expire(_ count: Int, tag: String) async throws -> (deleted: Int, commits: Int) {
            try await metering.record(
                contentsOf: (0..<count).map {
                    meteringEvent("req_\(tag)_\($0)", account: account.id, at: oldTime + UInt64($0))
                }
            )
            let before = store.commitCount
            let deleted = try await metering.enforceRetention(batchLimit: 100)
            return (deleted, store.commitCount - before)
        }

        let small = try await expire(150, tag: "small")
        let large = try await expire(3_000, tag: "large")
        XCTAssertEqual(small.deleted, 151, "the records and their one counter")
        XCTAssertEqual(large.deleted, 3_001)
        // Each write transaction deletes at most 100 rows.
        XCTAssertGreaterThanOrEqual(small.commits, 2)
        XCTAssertGreaterThanOrEqual(large.commits, 31)
        XCTAssertLessThanOrEqual(large.commits, 31 + 4, "no needless transactions")
        XCTAssertEqual(
            try metering.usage(accountID: account.id, fromDay: testDay - 100, toDay: testDay - 95).totals,
            UsageTotals()
        )
    }

    func testRetentionSkipsTheKeptRowsOfManyAccounts() async throws {
        let store = try openStore(configuration(durability: .batched))
        let metering = try await openMetering(store)
        let accounts = try await withThrowingTaskGroup(of: Account.self) { group in
            for index in 0..<120 {
                group.addTask {
                    try await store.createAccount(Account(name: "User", email: "user\(index)@example.com"))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let expiredTime = UsageCalendar.startOfDay(testDay - 90) + 5
        let keptTime = UsageCalendar.startOfDay(testDay - 89)
        try await metering.record(
            contentsOf: accounts.flatMap { account in
                [
                    meteringEvent("req_new_\(account.id)", account: account.id, at: testEpoch),
                    meteringEvent("req_edge_\(account.id)", account: account.id, at: keptTime),
                    meteringEvent("req_old_\(account.id)", account: account.id, at: expiredTime),
                ]
            }
        )

        let deleted = try await metering.enforceRetention(batchLimit: 7)
        XCTAssertEqual(deleted, 2 * accounts.count, "one record and one counter per account")
        for account in accounts {
            let usage = try metering.usage(
                accountID: account.id,
                fromDay: testDay - 90,
                toDay: testDay - 1,
                listRequests: true
            )
            XCTAssertEqual(usage.requests.map(\.requestId), ["req_edge_\(account.id)"])
            XCTAssertEqual(usage.totals?.requests, 1)
        }
    }

    func testTheRetentionTaskRunsAtOnceAndAgainUntilCancelled() async throws {
        let store = try openStore()
        let metering = try await openMetering(store, retentionDays: 10)
        let account = try await makeAccount(store)
        try await metering.record(contentsOf: [
            meteringEvent("req_old", account: account.id, at: testEpoch - 10 * UsageCalendar.millisecondsPerDay),
            meteringEvent("req_aging", account: account.id, at: testEpoch - 9 * UsageCalendar.millisecondsPerDay),
        ])
        func requestIDs() throws -> [String] {
            try metering.usage(accountID: account.id, fromDay: testDay - 10, toDay: testDay - 1, listRequests: true)
                .requests.map(\.requestId)
        }
        func waitUntil(_ expected: [String]) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while try requestIDs() != expected, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            XCTAssertEqual(try requestIDs(), expected)
        }

        let task = metering.startRetention(every: .milliseconds(20))
        try await waitUntil(["req_aging"])
        clock.advance(by: UsageCalendar.millisecondsPerDay)
        try await waitUntil([])
        task.cancel()
        await task.value
    }
}
