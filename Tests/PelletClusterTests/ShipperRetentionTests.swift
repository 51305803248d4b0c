import Foundation
import Logging
import PelletStore
import PelletTesting
import PelletWire
import XCTest

@testable import PelletCluster

/// The metering shipper and the retention, against a real PostgreSQL and a real LMDB store: an
/// event older than the retention (the node's, or the cluster's first day kept) is discarded,
/// counted and logged, and its day's partition is never made (again).
final class ShipperRetentionTests: XCTestCase {
    private let logger = Logger(label: "test.cluster.shipper")

    /// Polls `body` every 20 ms until it returns true; fails after `limit`.
    private func waitUntil(_ limit: Duration, _ what: String, _ body: () throws -> Bool) async throws {
        let start = ContinuousClock.now
        while !((try? body()) ?? false) {
            guard ContinuousClock.now - start < limit else {
                XCTFail("not within \(limit): \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private func rows(_ database: PostgresTestServer, _ sql: String) throws -> [String] {
        try database.psql(sql).split(separator: "\n").map(String.init)
    }

    /// Runs a cluster link on `store` (a node), until the returned task is cancelled.
    private func startNode(_ database: PostgresTestServer, _ store: Store, _ metering: Metering) async throws -> (
        Cluster, Task<Void, Never>
    ) {
        let cluster = try Cluster(
            url: try DatabaseURL(parsing: database.url), store: store, metering: metering, logger: logger,
            accountDeleted: { _ in })
        let task = Task { await cluster.run() }
        let connected = await cluster.waitUntilConnected(timeout: .seconds(20))
        XCTAssertTrue(connected)
        return (cluster, task)
    }

    func testEventsOlderThanTheRetentionAreDiscardedAndTheirPartitionsNeverMade() async throws {
        let database = try PostgresTestServer()
        let directory = try TemporaryDirectory(prefix: "cluster-shipper-retention")
        let store = try Store(configuration: StoreConfiguration(dataDirectory: directory.path), logger: logger)
        defer { store.close() }
        let metering = try await store.openMetering(retentionDays: 3, outbox: true)
        var (cluster, node) = try await startNode(database, store, metering)
        let account = try await cluster.accounts.createAccount(Account(name: "Old", email: "old@example.com"))

        // Today, yesterday, and five and thirty days ago: the last two are older than 3 days.
        let now = StoreConfiguration.systemClock()
        let today = UsageCalendar.day(unixMs: now)
        let day = UsageCalendar.millisecondsPerDay
        let times = [now, now - day, now - 5 * day, now - 30 * day, now - 5 * day + 1]
        for (index, time) in times.enumerated() {
            try await metering.record(.sample("req-\(index)", account: account.id, at: time))
        }
        try await waitUntil(.seconds(20), "the outbox empties") { try metering.outboxDepth() == 0 }
        XCTAssertEqual(try rows(database, "SELECT request_id FROM pellet_requests ORDER BY 1"), ["req-0", "req-1"])
        XCTAssertEqual(cluster.discardedEvents, 3)
        XCTAssertEqual(cluster.shippedEvents, 2)
        for old in [today - 5, today - 30] {
            XCTAssertEqual(
                try rows(database, "SELECT to_regclass('\(ClusterSchema.requestPartitionName(day: old))') IS NULL"), ["t"],
                "the partition of \(UsageCalendar.isoDate(ofDay: old)) was made")
        }

        // Usage counts no day older than the retention, even while rows of one are still in the
        // database (a partition the housekeeping has yet to drop, or a node with a longer
        // retention shipped): a range reaching back before it counts the days kept, and a range
        // wholly before it answers zero, as a single node whose retention ran.
        let old = today - 3
        try database.psql(ClusterSchema.requestPartition(day: old).sql)
        try database.psql(
            """
            INSERT INTO pellet_requests VALUES ('\(account.id)', \(UsageCalendar.startOfDay(old) + 1), 'req-late', 'key_a',
                'chat', 'llama', 'groq', 10, 20, 0, false, 100, 50, 25, 0, 1)
            """)
        let usage = try XCTUnwrap(cluster.usage)
        // (A range spans at most the retention's 3 days.)
        let reaching = try await usage.usage(
            UsageRequest(fromDay: today - 3, toDay: today - 1, listRequests: true), accountID: account.id)
        XCTAssertEqual(reaching.totals?.requests, 1)
        XCTAssertEqual(reaching.requests.map(\.requestId), ["req-1"])
        let before = try await usage.usage(
            UsageRequest(fromDay: today - 5, toDay: today - 3, groupBy: [.day], listRequests: true), accountID: account.id)
        XCTAssertEqual(before.totals?.requests ?? 0, 0)
        XCTAssertEqual(before.rows, [])
        XCTAssertEqual(before.requests, [])
        try database.psql("DROP TABLE \(ClusterSchema.requestPartitionName(day: old))")
        node.cancel()
        await node.value

        // Another node, with a 1-day retention, has raised the cluster's first day kept to today:
        // yesterday's events are discarded too, though this node keeps 3 days, and this node's
        // housekeeping drops yesterday's partition (the mark is the cluster's: the shortest
        // retention wins).
        try database.psql("UPDATE pellet_housekeeping SET requests_kept_from_day = \(today)")
        try await metering.record(.sample("req-yesterday", account: account.id, at: now - day + 5))
        try await metering.record(.sample("req-today", account: account.id, at: now + 5))
        (cluster, node) = try await startNode(database, store, metering)
        try await waitUntil(.seconds(20), "the outbox empties again") { try metering.outboxDepth() == 0 }
        try await waitUntil(.seconds(20), "yesterday's partition is dropped") {
            try self.rows(database, "SELECT to_regclass('\(ClusterSchema.requestPartitionName(day: today - 1))') IS NULL")
                == ["t"]
        }
        XCTAssertEqual(try rows(database, "SELECT request_id FROM pellet_requests ORDER BY 1"), ["req-0", "req-today"])
        XCTAssertEqual(cluster.discardedEvents, 1)
        node.cancel()
        await node.value
    }
}
