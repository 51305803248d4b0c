import Foundation
import Logging
import PelletStore
import PostgresNIO

/// The cluster database's housekeeping, run at start-up and then every hour by whichever node
/// takes the housekeeping lock (`pg_try_advisory_lock`: the others skip that run, so nodes
/// never race):
///
/// - **Retention of `pellet_requests`**: a day partition (`pellet_requests_YYYYMMDD`) whose whole
///   day is older than this node's `--retention-days` (the same rule as the node's LMDB
///   retention) is dropped, whole, never deleted row by row. First the first day kept is noted
///   in `pellet_housekeeping`, under the partition lock, so that no shipper creates one of those
///   partitions again (a shipper discards such old events instead). The mark only rises: with
///   different retentions across nodes, the shortest that has run wins.
/// - **Pruning `pellet_changes`**: changes older than the horizon (7 days), never the newest, are
///   deleted and the last one pruned is noted; a node whose copy is older resynchronizes from a
///   full snapshot (``ChangeFeed``).
///
/// Each drop is its own statement with a short lock timeout: dropping a partition takes an
/// exclusive lock on `pellet_requests`, and a drop waiting behind a long Usage read would hold
/// up every shipper's insert behind it; it is tried again at the next run instead.
final class ClusterHousekeeping: Sendable {
    private let client: PostgresClient
    /// Whether the database answers now (the change feed is connected).
    private let databaseReachable: @Sendable () -> Bool
    private let logger: Logger
    private let retentionDays: Int
    private let changeHorizon: Duration
    private let interval: Duration
    private let now: @Sendable () -> UInt64

    /// How long `pellet_changes` keeps a change (never its newest).
    static let defaultChangeHorizon = Duration.seconds(7 * 86_400)

    init(
        client: PostgresClient, databaseReachable: @escaping @Sendable () -> Bool, logger: Logger, retentionDays: Int,
        changeHorizon: Duration = ClusterHousekeeping.defaultChangeHorizon, interval: Duration = .seconds(3_600),
        now: @escaping @Sendable () -> UInt64 = StoreConfiguration.systemClock
    ) {
        self.client = client
        self.databaseReachable = databaseReachable
        self.logger = logger
        self.retentionDays = retentionDays
        self.changeHorizon = changeHorizon
        self.interval = interval
        self.now = now
    }

    /// What one run did; nil from ``sweep()`` when another node held the lock.
    struct Report: Sendable, Equatable {
        /// The first day `pellet_requests` keeps after the run.
        var keptFromDay: UInt32
        /// The partitions dropped, oldest first.
        var droppedPartitions: [String]
        /// The last change pruned (0: none yet).
        var changesPrunedThrough: Int64
        var changesPruned: Int
    }

    /// Sweeps now and then every `interval`, until the task is cancelled. While the database is
    /// away it waits for it (checking every second), so that a run is never queued behind the
    /// pool's reconnection attempts.
    func run() async {
        await repeatWhileDatabaseReachable(
            every: interval, recheck: .seconds(1), limit: .seconds(60), databaseReachable: databaseReachable,
            orThrow: { HousekeepingTimeout() }, { _ = try await self.sweep() }
        ) { outcome in
            if case .failure(let error) = outcome {
                logger.warning("cluster housekeeping failed; retrying at the next run: \(String(reflecting: error))")
            }
        }
    }

    /// One run, if this node gets the lock.
    func sweep() async throws -> Report? {
        let logger = self.logger
        let firstKept = Metering.firstRetainedDay(
            today: UsageCalendar.day(unixMs: now()), retentionDays: retentionDays)
        let horizonSeconds = changeHorizon.components.seconds
        return try await client.withConnection { connection in
            let locked = try await connection.query(
                "SELECT pg_try_advisory_lock(\(ClusterSchema.housekeepingLock))", logger: logger
            ).collect().first?.decode(Bool.self) ?? false
            guard locked else {
                logger.debug("cluster housekeeping skipped: another node holds its lock")
                return nil
            }
            do {
                let report = try await Self.sweep(
                    firstKept: firstKept, horizonSeconds: horizonSeconds, connection, logger)
                try await connection.query("SELECT pg_advisory_unlock(\(ClusterSchema.housekeepingLock))", logger: logger)
                logger.info(
                    "cluster housekeeping done",
                    metadata: [
                        "retention.days": "\(self.retentionDays)",
                        "retention.kept_from": "\(UsageCalendar.isoDate(ofDay: report.keptFromDay))",
                        "retention.dropped": "\(report.droppedPartitions.joined(separator: ","))",
                        "cluster.changes_pruned": "\(report.changesPruned)",
                        "cluster.pruned_through": "\(report.changesPrunedThrough)",
                    ])
                return report
            } catch {
                // A broken connection releases the lock with its session; an error the server
                // answered leaves the session, and the lock with it, to be released here.
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(ClusterSchema.housekeepingLock))", logger: logger)
                throw error
            }
        }
    }

    private static func sweep(
        firstKept: UInt32, horizonSeconds: Int64, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> Report {
        // The mark first, under the partition lock: from its commit on, no shipper creates a
        // partition before it.
        let keptFrom = try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(ClusterSchema.partitionLock))", logger: logger)
            var keptFrom = firstKept
            for try await day in try await connection.query(
                """
                UPDATE pellet_housekeeping
                SET requests_kept_from_day = greatest(requests_kept_from_day, \(Int32(clamping: firstKept)))
                RETURNING requests_kept_from_day
                """,
                logger: logger
            ).decode(Int32.self) {
                keptFrom = UInt32(clamping: day)
            }
            return keptFrom
        }

        var expired: [(day: UInt32, name: String)] = []
        for try await name in try await connection.query(
            """
            SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'pellet_requests'::regclass
            """,
            logger: logger
        ).decode(String.self) {
            if let day = ClusterSchema.requestPartitionDay(name: name), day < keptFrom {
                expired.append((day, name))
            }
        }
        var dropped: [String] = []
        for partition in expired.sorted(by: { $0.day < $1.day }) {
            do {
                try await connection.withTransaction(logger: logger) { connection in
                    try await connection.query("SET LOCAL lock_timeout = '2s'", logger: logger)
                    // The name was read from the catalogue and parsed back as pellet_requests_
                    // and a date's eight digits, so it is safe in the text.
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(partition.name)"), logger: logger)
                }
                dropped.append(partition.name)
            } catch {
                logger.warning(
                    "an expired partition of pellet_requests could not be dropped now; retrying at the next run: \(String(reflecting: error))",
                    metadata: ["retention.partition": "\(partition.name)"])
            }
        }

        // The changes: everything older than the horizon except the newest, as one prefix of
        // the sequence, and the mark of where it ends, in one transaction.
        let (prunedThrough, pruned) = try await connection.withTransaction(logger: logger) { connection in
            var through: Int64?
            for try await value in try await connection.query(
                """
                SELECT max(sequence) FROM pellet_changes
                WHERE committed_at < now() - make_interval(secs => \(Double(horizonSeconds)))
                    AND sequence < (SELECT max(sequence) FROM pellet_changes)
                """,
                logger: logger
            ).decode(Int64?.self) {
                through = value
            }
            var pruned = 0
            if let through {
                for try await _ in try await connection.query(
                    "DELETE FROM pellet_changes WHERE sequence <= \(through) RETURNING 1", logger: logger)
                {
                    pruned += 1
                }
                try await connection.query(
                    "UPDATE pellet_housekeeping SET changes_pruned_through = greatest(changes_pruned_through, \(through))",
                    logger: logger)
            }
            var prunedThrough: Int64 = 0
            for try await value in try await connection.query(
                "SELECT changes_pruned_through FROM pellet_housekeeping", logger: logger
            ).decode(Int64.self) {
                prunedThrough = value
            }
            return (prunedThrough, pruned)
        }
        return Report(
            keptFromDay: keptFrom, droppedPartitions: dropped, changesPrunedThrough: prunedThrough, changesPruned: pruned)
    }
}

private struct HousekeepingTimeout: Error, CustomStringConvertible {
    var description: String { "the cluster housekeeping took more than 60 s" }
}
