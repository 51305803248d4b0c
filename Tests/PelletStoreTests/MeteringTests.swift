import Foundation
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// The day of the tests' clock when it starts (2023-11-14).
let testDay = UsageCalendar.day(unixMs: testEpoch)

extension StoreTestCase {
    func openMetering(_ store: Store, retentionDays: Int = Metering.defaultRetentionDays) async throws -> Metering {
        try await store.openMetering(retentionDays: retentionDays)
    }
}

/// An event with defaults for everything a test does not care about.
func meteringEvent(
    _ requestID: String,
    account: String,
    at unixMs: UInt64 = testEpoch,
    key: String = "key_a",
    model: String = "llama-3.1-8b",
    provider: String = "groq",
    task: String = "chat",
    prompt: UInt32 = 10,
    completion: UInt32 = 20,
    cost: UInt64 = 100,
    latency: UInt32 = 50,
    status: UInt32 = 0
) -> MeteringEvent {
    .sample(
        requestID, account: account, at: unixMs, key: key, model: model, provider: provider, task: task,
        prompt: prompt, completion: completion, cost: cost, latency: latency, status: status
    )
}

extension UsageTotals {
    /// The totals of `events`, computed independently of the store.
    init(summing events: some Sequence<MeteringEvent>) {
        self.init()
        for event in events {
            requests += 1
            promptTokens += UInt64(event.promptTokens)
            completionTokens += UInt64(event.completionTokens)
            costMicroUsd += event.costMicroUSD
            errors += event.status == 0 ? 0 : 1
            latencyMsSum += UInt64(event.latencyMs)
        }
    }
}

/// Records `events` from many concurrent tasks (exercising the group commit).
func recordConcurrently(_ events: [MeteringEvent], into metering: Metering, width: Int = 32) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for lane in 0..<width {
            group.addTask {
                for index in stride(from: lane, to: events.count, by: width) {
                    try await metering.record(events[index])
                }
            }
        }
        try await group.waitForAll()
    }
}

final class MeteringTests: StoreTestCase {
    private struct GroupKey: Hashable {
        var day: UInt32
        var model: String
        var provider: String
        var taskType: String
        var keyID: String
    }

    func testTotalsEqualTheSumOfTheEventsForEveryGrouping() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        let other = try await makeAccount(store, email: "other@example.com")
        let events = MeteringEvent.aroundMidnights(account: account.id, lastDay: testDay, count: 600)
        try await recordConcurrently(events, into: metering)
        try await metering.record(meteringEvent("req_other", account: other.id, cost: 1_000_000))

        let days = Set(events.map { UsageCalendar.day(unixMs: $0.unixMs) })
        XCTAssertEqual(days.count, 4, "the events straddle three midnights")
        let groupings: [[UsageGroup]] = [
            [], [.day], [.model], [.provider], [.taskType], [.key],
            [.day, .model], [.provider, .taskType], [.model, .key, .day], [.day, .model, .provider, .taskType, .key],
        ]
        for groupBy in groupings {
            let response = try metering.usage(
                accountID: account.id,
                fromDay: testDay - 3,
                toDay: testDay,
                groupBy: groupBy
            )
            XCTAssertEqual(response.totals, UsageTotals(summing: events), "totals for \(groupBy)")

            let expected = Dictionary(grouping: events) { event in
                GroupKey(
                    day: groupBy.contains(.day) ? UsageCalendar.day(unixMs: event.unixMs) : 0,
                    model: groupBy.contains(.model) ? event.model : "",
                    provider: groupBy.contains(.provider) ? event.provider : "",
                    taskType: groupBy.contains(.taskType) ? event.taskType : "",
                    keyID: groupBy.contains(.key) ? event.keyID : ""
                )
            }
            .map { group, members in
                UsageRow(
                    day: group.day,
                    model: group.model,
                    provider: group.provider,
                    taskType: group.taskType,
                    keyId: group.keyID,
                    totals: UsageTotals(summing: members)
                )
            }
            .sorted {
                ($0.day, $0.model, $0.provider, $0.taskType, $0.keyId)
                    < ($1.day, $1.model, $1.provider, $1.taskType, $1.keyId)
            }
            XCTAssertEqual(response.rows, groupBy.isEmpty ? [] : expected, "rows for \(groupBy)")
        }

        // One day alone holds only the events stamped that day (UTC).
        let lastDay = try metering.usage(accountID: account.id, fromDay: testDay, toDay: testDay, groupBy: [.day])
        let expectedLastDay = events.filter { UsageCalendar.day(unixMs: $0.unixMs) == testDay }
        XCTAssertEqual(lastDay.totals, UsageTotals(summing: expectedLastDay))
        XCTAssertEqual(lastDay.rows.map(\.day), [testDay])
    }

    func testRequestRecordsHoldTheEventsMetadata() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        var event = meteringEvent("req_meta", account: account.id, at: testEpoch - 5, status: 4)
        event.attempts = 3
        event.timeToFirstTokenMs = 17
        event.tokensEstimated = true
        try await metering.record(event)

        let response = try metering.usage(accountID: account.id, listRequests: true)
        XCTAssertEqual(
            response.requests,
            [
                RequestRecord(
                    requestId: "req_meta",
                    unixMs: testEpoch - 5,
                    keyId: "key_a",
                    taskType: "chat",
                    model: "llama-3.1-8b",
                    provider: "groq",
                    usage: TokenUsage(promptTokens: 10, completionTokens: 20),
                    costMicroUsd: 100,
                    latencyMs: 50,
                    status: 4,
                    attempts: 3,
                    timeToFirstTokenMs: 17,
                    tokensEstimated: true
                )
            ]
        )
        XCTAssertEqual(response.totals?.errors, 1)
        XCTAssertEqual(response.nextCursor, "")
    }

    func testRecordingTheSameRequestTwiceCountsItOnce() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        let event = meteringEvent("req_twice", account: account.id, cost: 700)
        try await metering.record(event)
        try await metering.record(event)
        try await metering.record(contentsOf: [event, event])

        XCTAssertEqual(try metering.usage(accountID: account.id).totals?.requests, 1)
        XCTAssertEqual(try metering.monthlyTotals(accountID: account.id).first?.totals.costMicroUsd, 700)
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).spentMicroUSD, 700)
    }

    func testEventsOfUnknownAccountsAndUnstorableEventsAreRefused() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        await assertStoreError(.notFound) { try await metering.record(meteringEvent("req_1", account: "acc_gone")) }
        await assertStoreError(.invalidArgument) { try await metering.record(meteringEvent("", account: account.id)) }
        await assertStoreError(.invalidArgument) {
            try await metering.record(
                meteringEvent("req_2", account: account.id, model: String(repeating: "m", count: 500))
            )
        }
        await assertStoreError(.invalidArgument) {
            try await metering.record(meteringEvent("req_3", account: account.id, task: "chat\u{0}x"))
        }
        XCTAssertEqual(try metering.usage(accountID: account.id).totals, UsageTotals())
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).spentMicroUSD, 0)
    }

    func testEventsAcknowledgedInFullModeSurviveReopening() async throws {
        var store = try openStore(configuration(durability: .full))
        var metering = try await openMetering(store)
        let account = try await makeAccount(store)
        let events = (0..<100).map {
            meteringEvent("req_\($0)", account: account.id, at: testEpoch - UInt64($0), cost: 10)
        }
        try await recordConcurrently(events, into: metering)
        store.close()

        store = try openStore(configuration(durability: .full))
        metering = try await openMetering(store)
        let response = try metering.usage(accountID: account.id, listRequests: true, limit: 1_000)
        XCTAssertEqual(response.totals, UsageTotals(summing: events))
        XCTAssertEqual(Set(response.requests.map(\.requestId)), Set(events.map(\.requestID)))
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).spentMicroUSD, 1_000)
    }

    func testDeletingAnAccountRemovesEveryUsageRowFromTheDataFile() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let doomed = try await makeAccount(store, email: "doomed@example.com")
        let survivor = try await makeAccount(store, email: "survivor@example.com")
        let doomedEvents = (0..<50).map {
            meteringEvent(
                "req_doomed_\($0)",
                account: doomed.id,
                at: testEpoch - UInt64($0) * 3_600_000,
                key: "key_doomed"
            )
        }
        let survivorEvents = (0..<5).map { meteringEvent("req_survivor_\($0)", account: survivor.id) }
        try await recordConcurrently(doomedEvents + survivorEvents, into: metering)

        try await store.deleteAccount(id: doomed.id)
        metering.forgetAccount(id: doomed.id)
        await assertStoreError(.notFound) { try metering.usage(accountID: doomed.id) }
        XCTAssertEqual(try metering.usage(accountID: survivor.id).totals?.requests, 5)
        store.close()

        let dump = try mdbDump(directory)
        XCTAssertTrue(dump.contains("req_survivor_4"), "the dump should show the survivor's records")
        XCTAssertTrue(dump.contains(survivor.id))
        for trace in [doomed.id, "key_doomed"] + doomedEvents.map(\.requestID) {
            XCTAssertFalse(dump.contains(trace), "\(trace) is still in the data file")
        }
    }

    func testExportHoldsRequestRecordsCountersAndMonthlyTotals() async throws {
        let store = try openStore()
        let metering = try await openMetering(store)
        let account = try await makeAccount(store)
        var event = meteringEvent("req_export", account: account.id, cost: 1_234, latency: 80)
        event.tokensEstimated = true
        try await metering.record(event)
        try await metering.record(meteringEvent("req_export_2", account: account.id, model: "qwen", cost: 6))

        let bytes = try store.exportAccount(id: account.id)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let records = try XCTUnwrap(object["request_records"] as? [[String: Any]])
        XCTAssertEqual(Set(records.compactMap { $0["request_id"] as? String }), ["req_export", "req_export_2"])
        let exported = try XCTUnwrap(records.first { $0["request_id"] as? String == "req_export" })
        XCTAssertEqual(exported["cost_micro_usd"] as? Int, 1_234)
        XCTAssertEqual(exported["time_to_first_token_ms"] as? Int, 40)
        XCTAssertEqual(exported["tokens_estimated"] as? Bool, true)

        let counters = try XCTUnwrap(object["usage_counters"] as? [[String: Any]])
        XCTAssertEqual(counters.count, 2)
        XCTAssertEqual(Set(counters.compactMap { $0["model"] as? String }), ["llama-3.1-8b", "qwen"])
        XCTAssertEqual(counters.first?["date"] as? String, "2023-11-14")
        XCTAssertEqual(counters.first?["day"] as? Int, Int(testDay))

        let months = try XCTUnwrap(object["monthly_totals"] as? [[String: Any]])
        XCTAssertEqual(months.count, 1)
        XCTAssertEqual(months.first?["month"] as? String, "2023-11")
        XCTAssertEqual(months.first?["cost_micro_usd"] as? Int, 1_240)
        XCTAssertEqual(months.first?["requests"] as? Int, 2)
    }

    func testCalendarConversions() {
        XCTAssertEqual(UsageCalendar.isoDate(ofDay: 0), "1970-01-01")
        XCTAssertEqual(UsageCalendar.isoDate(ofDay: testDay), "2023-11-14")
        XCTAssertEqual(
            UsageCalendar.day(year: 2024, month: 2, day: 29),
            UsageCalendar.day(year: 2024, month: 3, day: 1) - 1
        )
        for day in stride(from: UInt32(0), to: 80_000, by: 17) {
            let date = UsageCalendar.date(ofDay: day)
            XCTAssertEqual(UsageCalendar.day(year: date.year, month: date.month, day: date.day), day)
        }
        let december = UsageCalendar.month(
            unixMs: UsageCalendar.startOfDay(UsageCalendar.day(year: 2023, month: 12, day: 31))
        )
        XCTAssertEqual(UsageCalendar.isoMonth(december), "2023-12")
        XCTAssertEqual(UsageCalendar.isoMonth(december + 1), "2024-01")
        XCTAssertEqual(UsageCalendar.startOfMonth(december + 1), 1_704_067_200_000)
    }
}
