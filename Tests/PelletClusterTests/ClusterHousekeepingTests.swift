import Foundation
import Logging
import PelletStore
import PelletTesting
import PostgresNIO
import XCTest

@testable import PelletCluster

/// The cluster database's housekeeping against a real PostgreSQL (a throwaway server in a temp
/// directory): retention drops whole day partitions of `pellet_requests` and nothing row by row,
/// the first day kept only rises, and one node at a time sweeps.
final class ClusterHousekeepingTests: XCTestCase {
    private let logger = Logger(label: "test.cluster.housekeeping")

    /// The names of `pellet_requests`' partitions, sorted.
    private func partitions(_ database: PostgresTestServer) throws -> [String] {
        try rows(
            database,
            """
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'pellet_requests'::regclass ORDER BY 1
            """)
    }

    func testTheSweepDropsExactlyThePartitionsOlderThanTheRetentionWholeAndTheShortestRetentionWins() async throws {
        let database = try PostgresTestServer()
        // Every statement the server runs goes to its log, where the test looks for DELETEs.
        try database.psql("ALTER SYSTEM SET log_statement = 'all'")
        try database.psql("SELECT pg_reload_conf()")
        let (client, driver) = try await connectMigrated(database, logger: logger)
        defer { driver.cancel() }

        // Today is day D (at noon); a 3-day retention keeps D-2, D-1 and D.
        let today = UsageCalendar.day(year: 2026, month: 3, day: 1)
        let noon = UsageCalendar.startOfDay(today) + UsageCalendar.millisecondsPerDay / 2
        let days = [today - 10, today - 4, today - 3, today - 2, today - 1, today, today + 1]
        for day in days {
            try database.psql(ClusterSchema.requestPartition(day: day).sql)
            // Two rows in each day, one at its first and one at its last millisecond.
            for (index, time) in [UsageCalendar.startOfDay(day), UsageCalendar.startOfDay(day + 1) - 1].enumerated() {
                try database.psql(
                    """
                    INSERT INTO pellet_requests VALUES ('acct_1', \(time), 'req-\(day)-\(index)', 'key_1', 'chat',
                        'llama', 'groq', 10, 20, 0, false, 100, 50, 25, 0, 1)
                    """)
            }
        }
        // A partition an operator made under another name is not the retention's to judge.
        try database.psql("CREATE TABLE pellet_requests_archive PARTITION OF pellet_requests FOR VALUES FROM (0) TO (1000)")
        XCTAssertEqual(try partitions(database).count, 8)

        let threeDays = ClusterHousekeeping(
            client: client, databaseReachable: { true }, logger: logger, retentionDays: 3, now: { noon })
        let report = try await threeDays.sweep()
        let expired = [today - 10, today - 4, today - 3].map(ClusterSchema.requestPartitionName(day:))
        XCTAssertEqual(report?.droppedPartitions, expired)
        XCTAssertEqual(report?.keptFromDay, today - 2)
        let kept = [today - 2, today - 1, today, today + 1].map(ClusterSchema.requestPartitionName(day:))
        XCTAssertEqual(try partitions(database), (kept + ["pellet_requests_archive"]).sorted())
        // The kept days keep every row; the dropped ones went whole.
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_requests"), ["8"])
        XCTAssertEqual(
            try rows(database, "SELECT min(unix_ms) FROM pellet_requests"), ["\(UsageCalendar.startOfDay(today - 2))"])
        XCTAssertEqual(try rows(database, "SELECT requests_kept_from_day FROM pellet_housekeeping"), ["\(today - 2)"])
        let log = try String(contentsOfFile: database.directory.file("server.log"), encoding: .utf8)
        for name in expired {
            XCTAssertTrue(log.contains("DROP TABLE IF EXISTS \(name)"), "no drop of \(name) in the server's log")
        }
        let deletes = log.split(separator: "\n").filter {
            $0.localizedCaseInsensitiveContains("delete") && $0.contains("pellet_requests")
        }
        XCTAssertEqual(deletes, [], "rows of pellet_requests were deleted one by one")

        // A node with a longer retention drops nothing and lowers nothing: the shortest wins.
        let tenDays = ClusterHousekeeping(
            client: client, databaseReachable: { true }, logger: logger, retentionDays: 10, now: { noon })
        let longer = try await tenDays.sweep()
        XCTAssertEqual(longer?.droppedPartitions, [])
        XCTAssertEqual(longer?.keptFromDay, today - 2)
        XCTAssertEqual(try partitions(database).count, 5)

        // A day later the 3-day node drops one more.
        let nextDay = ClusterHousekeeping(
            client: client, databaseReachable: { true }, logger: logger, retentionDays: 3,
            now: { noon + UsageCalendar.millisecondsPerDay })
        let later = try await nextDay.sweep()
        XCTAssertEqual(later?.droppedPartitions, [ClusterSchema.requestPartitionName(day: today - 2)])
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_requests"), ["6"])
    }

    func testOnlyOneNodeSweepsAtATime() async throws {
        let database = try PostgresTestServer()
        let (client, driver) = try await connectMigrated(database, logger: logger)
        defer { driver.cancel() }
        let housekeeping = ClusterHousekeeping(
            client: client, databaseReachable: { true }, logger: logger, retentionDays: 3)
        // Another node's session holds the lock: this node skips the run.
        let skipped = try await client.withConnection { other in
            let locked = try await other.query(
                "SELECT pg_try_advisory_lock(\(ClusterSchema.housekeepingLock))", logger: self.logger
            ).collect().first?.decode(Bool.self)
            XCTAssertEqual(locked, true)
            let report = try await housekeeping.sweep()
            try await other.query("SELECT pg_advisory_unlock(\(ClusterSchema.housekeepingLock))", logger: self.logger)
            return report
        }
        XCTAssertNil(skipped)
        // Once released, the run goes ahead, and leaves the lock free again.
        let report = try await housekeeping.sweep()
        XCTAssertNotNil(report)
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), ["0"])
    }

    func testChangesOlderThanTheHorizonArePrunedExceptTheNewest() async throws {
        let database = try PostgresTestServer()
        let (client, driver) = try await connectMigrated(database, logger: logger)
        defer { driver.cancel() }
        for id in 1...5 {
            try database.psql("INSERT INTO pellet_changes (kind, id) VALUES ('account_delete', 'acct_\(id)')")
        }
        let housekeeping = ClusterHousekeeping(
            client: client, databaseReachable: { true }, logger: logger, retentionDays: 3)
        // All recent: nothing pruned.
        let none = try await housekeeping.sweep()
        XCTAssertEqual(none?.changesPruned, 0)
        XCTAssertEqual(none?.changesPrunedThrough, 0)
        // The first three are 8 days old, the others new.
        try database.psql("UPDATE pellet_changes SET committed_at = now() - interval '8 days' WHERE sequence <= 3")
        let some = try await housekeeping.sweep()
        XCTAssertEqual(some?.changesPruned, 3)
        XCTAssertEqual(some?.changesPrunedThrough, 3)
        XCTAssertEqual(try rows(database, "SELECT sequence FROM pellet_changes ORDER BY 1"), ["4", "5"])
        // All old: the newest stays.
        try database.psql("UPDATE pellet_changes SET committed_at = now() - interval '8 days'")
        let all = try await housekeeping.sweep()
        XCTAssertEqual(all?.changesPruned, 1)
        XCTAssertEqual(all?.changesPrunedThrough, 4)
        XCTAssertEqual(try rows(database, "SELECT sequence FROM pellet_changes"), ["5"])
        XCTAssertEqual(try rows(database, "SELECT changes_pruned_through FROM pellet_housekeeping"), ["4"])
    }
}
