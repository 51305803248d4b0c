import Foundation
import PelletClient
import PelletStore
import PelletTesting
import PelletWire
import Synchronization
import XCTest

/// The Usage call (method 3) over a real socket against a real store, with events recorded
/// straight into the server's metering under a clock the test sets.
final class UsageCallTests: XCTestCase {
    /// 2023-11-14T22:13:20Z.
    static let epoch: UInt64 = 1_700_000_000_000
    static let today = UsageCalendar.day(unixMs: epoch)

    private let clock = ManualClock(UsageCallTests.epoch)
    private var server: TestServer!
    private var client: PelletClient!

    override func setUp() async throws {
        let clock = self.clock
        server = try await TestServer.start(storeConfiguration: { $0.now = { clock.now } })
        client = try await server.client()
    }

    override func tearDown() async throws {
        await client?.close()
        await server?.shutdown()
        (client, server) = (nil, nil)
    }

    private var admin: Credentials { server.adminCredentials }

    func testTotalsAndRowsEqualTheRecordedEventsForEveryGrouping() async throws {
        let account = try await server.store.createAccount(Account(name: "Ada", email: "ada@example.com"))
        let events = MeteringEvent.aroundMidnights(account: account.id, lastDay: Self.today, count: 600)
        try await server.metering.record(contentsOf: Array(events[..<500]))
        // The rest one by one and concurrently, as calls would record them.
        let metering: Metering = server.metering
        try await withThrowingTaskGroup(of: Void.self) { group in
            for event in events[500...] {
                group.addTask { try await metering.record(event) }
            }
            try await group.waitForAll()
        }

        let range = (from: Self.today - 3, to: Self.today)
        let allGroups: [UsageGroup] = [.day, .model, .provider, .taskType, .key]
        for mask in 0..<(1 << allGroups.count) {
            let groups = allGroups.indices.filter { mask & (1 << $0) != 0 }.map { allGroups[$0] }
            let response = try await usage(
                UsageRequest(
                    credentials: admin,
                    accountId: account.id,
                    fromDay: range.from,
                    toDay: range.to,
                    groupBy: groups
                )
            )
            XCTAssertEqual(response.totals, Self.sum(events), "\(groups)")
            XCTAssertEqual(Self.keyedRows(response.rows), Self.expectedRows(events, groups: groups), "\(groups)")
            if !groups.isEmpty {
                XCTAssertEqual(Self.sum(response.rows.compactMap(\.totals)), response.totals, "rows add up: \(groups)")
            }
            let sortKeys = response.rows.map {
                [String(format: "%010u", $0.day), $0.model, $0.provider, $0.taskType, $0.keyId]
            }
            XCTAssertTrue(
                zip(sortKeys, sortKeys.dropFirst()).allSatisfy { $0.lexicographicallyPrecedes($1) },
                "rows sorted: \(groups)"
            )
            XCTAssertTrue(response.requests.isEmpty)
            XCTAssertEqual(response.nextCursor, "")
        }

        // One day at a time: the midnights split the events exactly.
        for day in range.from...range.to {
            let response = try await usage(
                UsageRequest(credentials: admin, accountId: account.id, fromDay: day, toDay: day)
            )
            XCTAssertEqual(
                response.totals,
                Self.sum(events.filter { UsageCalendar.day(unixMs: $0.unixMs) == day }),
                "day \(day)"
            )
        }

        // No days named: the 30 days ending today, today included.
        let edges = [
            MeteringEvent.sample("old", account: account.id, at: UsageCalendar.startOfDay(Self.today - 30) + 5, cost: 7),
            MeteringEvent.sample("first", account: account.id, at: UsageCalendar.startOfDay(Self.today - 29), cost: 11),
        ]
        try await server.metering.record(contentsOf: edges)
        let defaulted = try await usage(UsageRequest(credentials: admin, accountId: account.id))
        XCTAssertEqual(defaulted.totals, Self.sum(events + [edges[1]]))
    }

    func testAKeySeesOnlyItsOwnAccountAndTheAdminAnyAccount() async throws {
        let ada = try await server.store.createAccount(Account(name: "Ada", email: "ada@example.com"))
        let bob = try await server.store.createAccount(Account(name: "Bob", email: "bob@example.com"))
        let adaKey = try await server.store.createKey(accountID: ada.id, name: "ada").plaintext
        let adaEvents = (0..<5).map {
            MeteringEvent.sample("a\($0)", account: ada.id, at: Self.epoch - UInt64($0) * 1_000, cost: 10)
        }
        let bobEvents = (0..<3).map {
            MeteringEvent.sample("b\($0)", account: bob.id, at: Self.epoch - UInt64($0) * 1_000, cost: 1_000)
        }
        try await server.metering.record(contentsOf: adaEvents + bobEvents)

        let own = try await usage(UsageRequest(credentials: Credentials(apiKey: adaKey), listRequests: true))
        XCTAssertEqual(own.totals, Self.sum(adaEvents))
        XCTAssertEqual(Set(own.requests.map(\.requestId)), Set(adaEvents.map(\.requestID)))
        let named = try await usage(UsageRequest(credentials: Credentials(apiKey: adaKey), accountId: ada.id))
        XCTAssertEqual(named.totals, own.totals, "a key may name its own account")
        let denied = await expectStatus(
            .permissionDenied,
            UsageRequest(credentials: Credentials(apiKey: adaKey), accountId: bob.id)
        )
        XCTAssertFalse(denied?.message.contains(bob.id) ?? true, "the refusal says nothing of the other account")

        for (accountID, events) in [(ada.id, adaEvents), (bob.id, bobEvents)] {
            let response = try await usage(UsageRequest(credentials: admin, accountId: accountID, listRequests: true))
            XCTAssertEqual(response.totals, Self.sum(events))
            XCTAssertEqual(response.requests.map(\.requestId), events.map(\.requestID), "newest first")
        }
        // Both: the admin token decides, as for every call.
        let both = try await usage(
            UsageRequest(credentials: Credentials(apiKey: adaKey, adminToken: TestServer.adminToken), accountId: bob.id)
        )
        XCTAssertEqual(both.totals, Self.sum(bobEvents))
    }

    func testEveryErrorStatus() async throws {
        let ada = try await server.store.createAccount(Account(name: "Ada", email: "ada@example.com"))
        let adaKey = try await server.store.createKey(accountID: ada.id, name: "ada").plaintext
        let today = Self.today

        // Credentials.
        await expectStatus(.unauthenticated, UsageRequest(accountId: ada.id))
        await expectStatus(.unauthenticated, UsageRequest(credentials: Credentials(), accountId: ada.id))
        await expectStatus(.unauthenticated, UsageRequest(credentials: Credentials(apiKey: "plt_not_a_key")))
        await expectStatus(
            .permissionDenied,
            UsageRequest(credentials: Credentials(adminToken: "wrong"), accountId: ada.id)
        )
        await expectStatus(
            .invalidArgument,
            UsageRequest(credentials: admin),
            "the admin token has no account of its own"
        )

        // Accounts.
        let missing = await expectStatus(.notFound, UsageRequest(credentials: admin, accountId: "acc_missing"))
        XCTAssertTrue(missing?.message.contains("acc_missing") ?? false)

        // Ranges: from after to, and longer than the retention (90 days); exactly 90 is fine.
        await expectStatus(
            .invalidArgument,
            UsageRequest(credentials: admin, accountId: ada.id, fromDay: today, toDay: today - 1)
        )
        let tooLong = await expectStatus(
            .invalidArgument,
            UsageRequest(credentials: admin, accountId: ada.id, fromDay: today - 90, toDay: today)
        )
        XCTAssertTrue(tooLong?.message.contains("91 days") ?? false, tooLong?.message ?? "")
        _ = try await usage(UsageRequest(credentials: admin, accountId: ada.id, fromDay: today - 89, toDay: today))
        await expectStatus(
            .invalidArgument,
            UsageRequest(credentials: Credentials(apiKey: adaKey), fromDay: today + 1, toDay: today)
        )

        // Cursors this server did not make.
        for cursor in ["!", "AAAA", "not base64 at all", String(repeating: "Q", count: 400)] {
            await expectStatus(
                .invalidArgument,
                UsageRequest(credentials: admin, accountId: ada.id, listRequests: true, cursor: cursor),
                "cursor \(cursor.prefix(20))"
            )
        }

        // A payload that is no UsageRequest.
        let connection = try server.rawConnection()
        try connection.sendFrame(
            FrameHeader(type: .request, method: Method.usage.rawValue, stream: 1),
            payload: [0xFF, 0xFF, 0xFF]
        )
        let reply = try connection.readFrame()
        XCTAssertEqual(reply.header.type, .response)
        XCTAssertEqual(reply.header.stream, 1)
        XCTAssertEqual(Status(wireValue: reply.header.value), .invalidArgument)

        // A suspended account's key, then a deleted account.
        _ = try await server.store.updateAccount(Account(id: ada.id, subscriptionStatus: "past_due"))
        await expectStatus(.permissionDenied, UsageRequest(credentials: Credentials(apiKey: adaKey)))
        _ = try await client.account(AccountRequest(credentials: admin, op: .delete(ada.id)))
        await expectStatus(.unauthenticated, UsageRequest(credentials: Credentials(apiKey: adaKey)))
        await expectStatus(.notFound, UsageRequest(credentials: admin, accountId: ada.id))
    }

    /// 2,500 records, several to a millisecond, paged through the call: every record once, newest
    /// first, whatever the page size, and records written during the paging do not shift it.
    func testPaginationOver2500RecordsHasNoGapOrDuplicate() async throws {
        let account = try await server.store.createAccount(Account(name: "Ada", email: "ada@example.com"))
        let start = UsageCalendar.startOfDay(Self.today - 6)
        // Three records to a millisecond, 1.7 s apart, so the pages cross days and ties.
        let events = (0..<2_500).map { index in
            MeteringEvent.sample(
                "req_\(String(format: "%05d", (index * 7_919) % 2_500))",
                account: account.id,
                at: start + UInt64(index / 3) * 1_700,
                cost: UInt64(index)
            )
        }
        try await server.metering.record(contentsOf: events)
        let newestFirst = { (events: [MeteringEvent]) in
            events.sorted { ($0.unixMs, $1.requestID) > ($1.unixMs, $0.requestID) }.map(\.requestID)
        }
        var recorded = events

        for limit: UInt32 in [1_000, 333, 0, 5_000] {
            let pageSize = limit == 0 ? 100 : min(Int(limit), 1_000)
            let expected = newestFirst(recorded)
            var request = UsageRequest(
                credentials: admin,
                accountId: account.id,
                fromDay: Self.today - 6,
                toDay: Self.today,
                listRequests: true,
                limit: limit
            )
            var seen: [String] = []
            var pages = 0
            repeat {
                let page = try await usage(request)
                pages += 1
                XCTAssertEqual(page.totals, Self.sum(recorded), "every page has the range's totals")
                XCTAssertLessThanOrEqual(page.requests.count, pageSize)
                seen += page.requests.map(\.requestId)
                request.cursor = page.nextCursor
                if pages == 1, limit == 1_000 {
                    // Newer than anything listed: ahead of the cursor, so on no later page.
                    let late = (0..<10).map {
                        MeteringEvent.sample("late_\($0)", account: account.id, at: Self.epoch + UInt64($0))
                    }
                    try await server.metering.record(contentsOf: late)
                    recorded += late
                }
            } while !request.cursor.isEmpty && pages < 100
            XCTAssertEqual(seen, expected, "limit \(limit)")
            XCTAssertEqual(pages, (expected.count + pageSize - 1) / pageSize, "limit \(limit)")
        }

        // A page's records carry the metadata recorded.
        let first = try await usage(
            UsageRequest(
                credentials: admin,
                accountId: account.id,
                fromDay: Self.today - 6,
                toDay: Self.today - 6,
                listRequests: true,
                limit: 1
            )
        )
        let oldestDay = events.filter { UsageCalendar.day(unixMs: $0.unixMs) == Self.today - 6 }
        let newest = try XCTUnwrap(oldestDay.sorted { ($0.unixMs, $1.requestID) > ($1.unixMs, $0.requestID) }.first)
        XCTAssertEqual(first.requests, [Self.record(newest)])
    }

    func testTheAccountExportHoldsTheUsageAndDeletingTheAccountForgetsIt() async throws {
        let account = try await server.store.createAccount(
            Account(name: "Ada", email: "ada@example.com", monthlyBudgetMicroUsd: 1_000_000)
        )
        let events = [
            MeteringEvent.sample("r1", account: account.id, at: UsageCalendar.startOfDay(Self.today - 1) + 10, cost: 100),
            MeteringEvent.sample("r2", account: account.id, at: Self.epoch - 1, model: "qwen-2.5-coder", cost: 250, status: 14),
            MeteringEvent.sample("r3", account: account.id, at: Self.epoch, cost: 50),
        ]
        try await server.metering.record(contentsOf: events)

        let export = try await client.account(AccountRequest(credentials: admin, op: .export(account.id))).exportJson
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(export)) as? [String: Any])
        let records = try XCTUnwrap(document["request_records"] as? [[String: Any]])
        XCTAssertEqual(records.compactMap { $0["request_id"] as? String }, ["r3", "r2", "r1"])
        XCTAssertEqual(records.first?["cost_micro_usd"] as? Int, 50)
        let counters = try XCTUnwrap(document["usage_counters"] as? [[String: Any]])
        XCTAssertEqual(counters.count, 3, "one per day and model: \(counters)")
        XCTAssertEqual(counters.compactMap { $0["requests"] as? Int }.reduce(0, +), 3)
        XCTAssertEqual(counters.compactMap { $0["cost_micro_usd"] as? Int }.reduce(0, +), 400)
        XCTAssertEqual(counters.compactMap { $0["errors"] as? Int }.reduce(0, +), 1)
        XCTAssertEqual(Set(counters.compactMap { $0["date"] as? String }), ["2023-11-13", "2023-11-14"])
        let monthly = try XCTUnwrap(document["monthly_totals"] as? [[String: Any]])
        XCTAssertEqual(monthly.compactMap { $0["month"] as? String }, ["2023-11"])
        XCTAssertEqual(monthly.first?["cost_micro_usd"] as? Int, 400)

        // A call in flight holds part of the budget; deleting the account drops the hold.
        _ = try server.metering.reserve(accountID: account.id, budgetMicroUSD: 1_000_000, estimateMicroUSD: 5_000)
        let standing = try server.metering.budgetStanding(accountID: account.id)
        XCTAssertEqual(standing.spentMicroUSD, 400)
        XCTAssertEqual(standing.reservedMicroUSD, 5_000)
        _ = try await client.account(AccountRequest(credentials: admin, op: .delete(account.id)))
        let forgotten = try server.metering.budgetStanding(accountID: account.id)
        XCTAssertEqual(forgotten.spentMicroUSD, 0)
        XCTAssertEqual(forgotten.reservedMicroUSD, 0)
        await expectStatus(.notFound, UsageRequest(credentials: admin, accountId: account.id))
    }

    // MARK: Helpers

    private func usage(_ request: UsageRequest) async throws(RPCError) -> UsageResponse {
        try await client.usage(request)
    }

    @discardableResult
    private func expectStatus(
        _ status: Status,
        _ request: UsageRequest,
        _ note: String = "",
        file: StaticString = #filePath,
        line: UInt = #line
    ) async -> RPCError? {
        do {
            _ = try await usage(request)
            XCTFail("expected \(status.name) \(note)", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.status, status, "\(error.message) \(note)", file: file, line: line)
            return error
        }
    }

    static func record(_ event: MeteringEvent) -> RequestRecord {
        RequestRecord(
            requestId: event.requestID,
            unixMs: event.unixMs,
            keyId: event.keyID,
            taskType: event.taskType,
            model: event.model,
            provider: event.provider,
            usage: TokenUsage(promptTokens: event.promptTokens, completionTokens: event.completionTokens),
            costMicroUsd: event.costMicroUSD,
            latencyMs: event.latencyMs,
            status: event.status,
            attempts: event.attempts,
            timeToFirstTokenMs: event.timeToFirstTokenMs,
            tokensEstimated: event.tokensEstimated
        )
    }

    /// The totals of `events`, computed without the store.
    static func sum(_ events: some Sequence<MeteringEvent>) -> UsageTotals {
        var totals = UsageTotals()
        for event in events {
            totals.requests += 1
            totals.promptTokens += UInt64(event.promptTokens)
            totals.completionTokens += UInt64(event.completionTokens)
            totals.costMicroUsd += event.costMicroUSD
            totals.errors += event.status == 0 ? 0 : 1
            totals.latencyMsSum += UInt64(event.latencyMs)
        }
        return totals
    }

    static func sum(_ parts: [UsageTotals]) -> UsageTotals {
        parts.reduce(into: UsageTotals()) { total, part in
            total.requests += part.requests
            total.promptTokens += part.promptTokens
            total.completionTokens += part.completionTokens
            total.costMicroUsd += part.costMicroUsd
            total.errors += part.errors
            total.latencyMsSum += part.latencyMsSum
        }
    }

    struct GroupKey: Hashable, CustomStringConvertible {
        var day: UInt32 = 0
        var model = "", provider = "", taskType = "", keyID = ""
        var description: String { "\(day)/\(model)/\(provider)/\(taskType)/\(keyID)" }
    }

    static func keyedRows(_ rows: [UsageRow]) -> [GroupKey: UsageTotals] {
        var keyed: [GroupKey: UsageTotals] = [:]
        for row in rows {
            let key = GroupKey(
                day: row.day,
                model: row.model,
                provider: row.provider,
                taskType: row.taskType,
                keyID: row.keyId
            )
            XCTAssertNil(keyed[key], "row \(key) appears twice")
            keyed[key] = row.totals
        }
        return keyed
    }

    /// The rows the grouping should give, built from the events alone.
    static func expectedRows(_ events: [MeteringEvent], groups: [UsageGroup]) -> [GroupKey: UsageTotals] {
        guard !groups.isEmpty else { return [:] }
        let grouped = Dictionary(grouping: events) { event in
            GroupKey(
                day: groups.contains(.day) ? UsageCalendar.day(unixMs: event.unixMs) : 0,
                model: groups.contains(.model) ? event.model : "",
                provider: groups.contains(.provider) ? event.provider : "",
                taskType: groups.contains(.taskType) ? event.taskType : "",
                keyID: groups.contains(.key) ? event.keyID : ""
            )
        }
        return grouped.mapValues { sum($0) }
    }
}

/// The store's clock, moved by the test.
final class ManualClock: Sendable {
    private let milliseconds: Mutex<UInt64>

    init(_ start: UInt64) { milliseconds = Mutex(start) }

    var now: UInt64 { milliseconds.withLock { $0 } }

    func advance(by delta: UInt64) { milliseconds.withLock { $0 += delta } }
}
