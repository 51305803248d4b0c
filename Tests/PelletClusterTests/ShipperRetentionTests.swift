import Foundation
import Logging
import PelletStore
import PelletTesting
import PelletWire
import PostgresNIO
import XCTest

@testable import PelletCluster

/// The metering shipper and the retention, against a real PostgreSQL and a real LMDB store: an
/// event older than the retention (the node's, or the cluster's first day kept) is discarded,
/// counted and logged, and its day's partition is never made (again).
final class ShipperRetentionTests: XCTestCase {
    private let logger = Logger(label: "test.cluster.shipper")

    func testEventsOlderThanTheRetentionAreDiscardedAndTheirPartitionsNeverMade() async throws {
        let database = try PostgresTestServer()
        let directory = try TemporaryDirectory(prefix: "cluster-shipper-retention")
        let store = try Store(configuration: StoreConfiguration(dataDirectory: directory.path), logger: logger)
        defer { store.close() }
        let metering = try await store.openMetering(retentionDays: 3, outbox: true)
        var (cluster, node) = try await startLink(database, store, metering, logger: logger)
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
        (cluster, node) = try await startLink(database, store, metering, logger: logger)
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
    /// The retention dropping a day's partition between the shipper's last look at it and its
    /// next insert into it (another node's housekeeping, with a shorter retention) is no outage:
    /// the shipper checks the partitions again at once, discards and counts the day's events as
    /// older than the retention, and never logs the database as unreachable.
    func testAPartitionDroppedUnderTheShipperIsNoOutageAndItsEventsAreDiscardedAndCounted() async throws {
        let database = try PostgresTestServer()
        let directory = try TemporaryDirectory(prefix: "cluster-shipper-drop-race")
        let store = try Store(configuration: StoreConfiguration(dataDirectory: directory.path), logger: logger)
        defer { store.close() }
        let metering = try await store.openMetering(retentionDays: 3, outbox: true)
        let recorder = LogRecorder()
        let (cluster, node) = try await startLink(database, store, metering, logger: recorder.logger)
        defer { node.cancel() }
        let account = try await cluster.accounts.createAccount(Account(name: "Race", email: "race@example.com"))

        // Yesterday's event is shipped: the shipper has made yesterday's partition and knows it.
        let now = StoreConfiguration.systemClock()
        let today = UsageCalendar.day(unixMs: now)
        let yesterday = now - UsageCalendar.millisecondsPerDay
        try await metering.record(.sample("req-first", account: account.id, at: yesterday))
        try await waitUntil(.seconds(20), "the first event is shipped") { cluster.shippedEvents == 1 }

        // Another node's housekeeping, with a 1-day retention, raises the first day kept to
        // today and drops yesterday's partition (the real sweep, on a client of its own).
        let (client, driver) = try await connectMigrated(database, logger: logger)
        defer { driver.cancel() }
        let report = try await ClusterHousekeeping(
            client: client, databaseReachable: { true }, logger: logger, retentionDays: 1
        ).sweep()
        XCTAssertEqual(report?.droppedPartitions, [ClusterSchema.requestPartitionName(day: today - 1)])

        // The shipper still believes the partition is there: its insert meets the drop.
        try await metering.record(.sample("req-late", account: account.id, at: yesterday + 5))
        try await metering.record(.sample("req-today", account: account.id, at: now + 5))
        try await waitUntil(.seconds(20), "the outbox empties") { try metering.outboxDepth() == 0 }
        XCTAssertEqual(cluster.discardedEvents, 1)
        XCTAssertEqual(cluster.shippedEvents, 2)
        XCTAssertEqual(try rows(database, "SELECT request_id FROM pellet_requests ORDER BY 1"), ["req-today"])
        XCTAssertEqual(
            try rows(database, "SELECT to_regclass('\(ClusterSchema.requestPartitionName(day: today - 1))') IS NULL"), ["t"],
            "the dropped partition was made again")
        let lines = recorder.lines
        XCTAssertTrue(
            lines.contains { $0.hasPrefix("notice: a day partition of pellet_requests this metering batch needed was dropped meanwhile") },
            "\(lines)")
        XCTAssertTrue(
            lines.contains { $0.hasPrefix("warning: metering events older than the retention were discarded") }, "\(lines)")
        XCTAssertFalse(lines.contains { $0.contains("unreachable") }, "\(lines)")
        node.cancel()
        await node.value
    }
}
