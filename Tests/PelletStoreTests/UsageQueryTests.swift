import Foundation
import PelletStore
import PelletWire
import XCTest

final class UsageQueryTests: StoreTestCase {
    func testPaginationOverManyRecordsHasNoGapOrDuplicate() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        let other = try await makeAccount(store, email: "other@example.com")
        // Three records per millisecond, so that ties are ordered too, over several days.
        let events = (0..<2_500).map { index in
            meteringEvent("req_\(index)", account: account.id, at: testEpoch - UInt64(index / 3) * 400_000)
        }
        try await metering.record(contentsOf: events)
        try await metering.record(contentsOf: (0..<20).map { meteringEvent("req_x\($0)", account: other.id) })

        var seen: [RequestRecord] = []
        var cursor = ""
        var pages = 0
        repeat {
            let page = try metering.usage(
                accountID: account.id,
                fromDay: testDay - 29,
                toDay: testDay,
                listRequests: true,
                cursor: cursor,
                limit: 100
            )
            XCTAssertLessThanOrEqual(page.requests.count, 100)
            seen += page.requests
            cursor = page.nextCursor
            pages += 1
            if pages == 3 {
                // A record made meanwhile (newer than the cursor) does not shift the pages.
                try await metering.record(meteringEvent("req_new", account: account.id, at: testEpoch + 1))
            }
        } while !cursor.isEmpty && pages < 100
        XCTAssertEqual(pages, 25)
        XCTAssertEqual(seen.count, 2_500)
        XCTAssertEqual(Set(seen.map(\.requestId)), Set(events.map(\.requestID)), "every record exactly once")
        XCTAssertEqual(seen.map(\.unixMs), seen.map(\.unixMs).sorted(by: >), "newest first")

        // The page size is capped, and a range ends the listing at its first day.
        let capped = try metering.usage(accountID: account.id, listRequests: true, limit: 5_000)
        XCTAssertEqual(capped.requests.count, 1_000)
        XCTAssertFalse(capped.nextCursor.isEmpty)
        let defaultPage = try metering.usage(accountID: account.id, listRequests: true)
        XCTAssertEqual(defaultPage.requests.count, 100)
        let oneDay = try metering.usage(
            accountID: account.id,
            fromDay: testDay,
            toDay: testDay,
            listRequests: true,
            limit: 1_000
        )
        let expectedOneDay = (events + [meteringEvent("req_new", account: account.id, at: testEpoch + 1)])
            .filter { UsageCalendar.day(unixMs: $0.unixMs) == testDay }
        XCTAssertEqual(oneDay.requests.count, expectedOneDay.count)
        XCTAssertEqual(oneDay.totals?.requests, UInt64(expectedOneDay.count))
    }

    func testTheDefaultRangeIsTheLastThirtyDays() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        let day: UInt64 = UsageCalendar.millisecondsPerDay
        try await metering.record(contentsOf: [
            meteringEvent("req_today", account: account.id, at: testEpoch),
            meteringEvent("req_29_days_ago", account: account.id, at: UsageCalendar.startOfDay(testDay - 29)),
            meteringEvent("req_30_days_ago", account: account.id, at: UsageCalendar.startOfDay(testDay - 29) - 1),
            meteringEvent("req_tomorrow", account: account.id, at: testEpoch + day),
        ])
        let response = try metering.usage(accountID: account.id, listRequests: true)
        XCTAssertEqual(response.requests.map(\.requestId), ["req_today", "req_29_days_ago"])
        XCTAssertEqual(response.totals?.requests, 2)
        // To alone: the 30 days up to it; from alone: up to today.
        XCTAssertEqual(try metering.usage(accountID: account.id, toDay: testDay + 1).totals?.requests, 2)
        XCTAssertEqual(try metering.usage(accountID: account.id, fromDay: testDay - 40).totals?.requests, 3)
    }

    func testEveryErrorOfTheUsageQuery() async throws {
        let store = try openStore()
        let metering = try await openMetering(store, retentionDays: 90)
        let account = try await makeAccount(store)
        try await metering.record(meteringEvent("req_1", account: account.id))

        var message = await assertStoreError(.invalidArgument) {
            try metering.usage(accountID: account.id, fromDay: testDay, toDay: testDay - 1)
        }
        XCTAssertEqual(message, "from_day 19675 (2023-11-14) is after to_day 19674 (2023-11-13)")
        message = await assertStoreError(.invalidArgument) {
            try metering.usage(accountID: account.id, fromDay: testDay - 90, toDay: testDay)
        }
        XCTAssertEqual(
            message,
            "the range 2023-08-16 to 2023-11-14 spans 91 days; usage is kept 90 days, so a range can span at most that"
        )
        XCTAssertEqual(
            try metering.usage(accountID: account.id, fromDay: testDay - 89, toDay: testDay).totals?.requests,
            1
        )

        for cursor in ["not a cursor", "AAAA", "AQ", String(repeating: "A", count: 400), "AQAAAAAAAAAAcmVx+w"] {
            await assertStoreError(.invalidArgument) {
                try metering.usage(accountID: account.id, listRequests: true, cursor: cursor)
            }
        }
        await assertStoreError(.notFound) { try metering.usage(accountID: "acc_nobody") }
    }

    func testTheWireRequestFormIsTheSameQuery() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        try await metering.record(contentsOf: (0..<3).map { meteringEvent("req_\($0)", account: account.id, cost: 5) })
        let request = UsageRequest(groupBy: [.model], listRequests: true, limit: 2)
        let response = try metering.usage(request, accountID: account.id)
        XCTAssertEqual(response.rows.map(\.model), ["llama-3.1-8b"])
        XCTAssertEqual(response.requests.count, 2)
        let rest = try metering.usage(
            UsageRequest(listRequests: true, cursor: response.nextCursor),
            accountID: account.id
        )
        XCTAssertEqual(rest.requests.count, 1)
        XCTAssertEqual(rest.nextCursor, "")
    }
}
