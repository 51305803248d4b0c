import Foundation
import Logging
import PelletStore
import PostgresNIO

/// Ships this node's metering events from its LMDB outbox to the cluster's database.
///
/// Calls never wait for it: an event is acknowledged once it is committed in LMDB (and in its
/// outbox). The shipper reads the oldest events a batch at a time, inserts them into
/// `pellet_requests` in one statement that skips an event already there (`ON CONFLICT DO
/// NOTHING` on account, time and request id), then removes them from the outbox. A batch sent
/// twice (a crash between the insert and the removal) therefore adds nothing. While the
/// database is unreachable the outbox grows, its depth logged once a minute; the batches go as
/// soon as the database returns, oldest first.
///
/// The partitions (one per UTC day) are created by the shipper: today's and the next two ahead,
/// checked every hour, and any older day a batch needs (events that waited out an outage). An
/// event older than the retention (this node's `--retention-days`, or the first day the cluster
/// keeps, which the housekeeping raises) is discarded, counted and logged, never shipped: its
/// partition is dropped, or will be, and must not be made again.
final class MeteringShipper: Sendable {
    private let client: PostgresClient
    private let metering: Metering
    private let feed: ChangeFeed
    private let logger: Logger
    private let batchLimit: Int
    /// How long a batch may wait for the database (a connection, the insert) before the shipper
    /// counts the database as unreachable and tries again later.
    private let batchTimeout: Duration
    private let state = ShipperState()

    /// Days of partitions created ahead of today, besides today's.
    static let daysAhead: UInt32 = 2

    init(
        client: PostgresClient, metering: Metering, feed: ChangeFeed, logger: Logger,
        batchLimit: Int = 500, batchTimeout: Duration = .seconds(2)
    ) {
        self.batchTimeout = batchTimeout
        self.client = client
        self.metering = metering
        self.feed = feed
        self.logger = logger
        self.batchLimit = batchLimit
    }

    /// Events shipped since start-up (a re-sent event the database already had counts too).
    var shippedCount: Int { state.shipped }

    /// Events discarded since start-up instead of shipped: older than the retention.
    var discardedCount: Int { state.discarded }

    /// Ships until the task is cancelled.
    func run() async {
        // The first migration run is the change feed's: wait for it (the feed connects only
        // after migrating), so the table exists before the first insert.
        while !feed.isConnected {
            guard (try? await Task.sleep(for: .milliseconds(50))) != nil else { return }
        }
        var pause = Duration.milliseconds(100)
        var outageSince: ContinuousClock.Instant?
        var lastDepthLog = ContinuousClock.now
        var partitionsCheckedOnDay: UInt32?
        // Whether the last attempt found a partition dropped under it: retried at once, once.
        var partitionRetried = false
        while !Task.isCancelled {
            do {
                let today = UsageCalendar.day(unixMs: UInt64(Date().timeIntervalSince1970 * 1000))
                if partitionsCheckedOnDay != today || state.partitionCheckIsDue() {
                    _ = try await within(batchTimeout, orThrow: { ShipperTimeout() }) {
                        try await self.ensurePartitions(Array(today...(today + Self.daysAhead)))
                    }
                    partitionsCheckedOnDay = today
                }
                let batch = try metering.outboxBatch(limit: batchLimit)
                guard let last = batch.last else {
                    if outageSince != nil { reportReturn(&outageSince) }
                    try await Task.sleep(for: .milliseconds(100))
                    continue
                }
                let ownFirstKept = Metering.firstRetainedDay(today: today, retentionDays: metering.retentionDays)
                var events = batch.map(\.event).filter { UsageCalendar.day(unixMs: $0.unixMs) >= ownFirstKept }
                let days = Set(events.map { UsageCalendar.day(unixMs: $0.unixMs) }).sorted()
                let keptFrom = try await within(batchTimeout, orThrow: { ShipperTimeout() }) {
                    try await self.ensurePartitions(days)
                }
                // Older than the retention (this node's, or the cluster's first day kept, which a
                // node with a shorter one may have raised): their partitions are dropped, or about
                // to be, and must not be made again.
                events.removeAll { UsageCalendar.day(unixMs: $0.unixMs) < keptFrom }
                let expired = batch.count - events.count
                // A batch cut off by the timeout may still have been committed: sent again,
                // it adds nothing.
                var inserted = 0
                do {
                    if !events.isEmpty {
                        let shipping = events
                        inserted = try await within(batchTimeout, orThrow: { ShipperTimeout() }) {
                            try await self.insert(shipping)
                        }
                    }
                } catch where Self.isMissingPartition(error) && !partitionRetried {
                    // The database answered: a day partition this batch needed was dropped after
                    // the shipper last saw it, by the retention (it raised the first day kept
                    // first) or by an operator. No outage: check the partitions again and retry
                    // the batch at once; its events of a day the retention dropped are then
                    // discarded and counted like any other events older than the retention.
                    state.forgetPartitions()
                    partitionRetried = true
                    logger.notice(
                        "a day partition of pellet_requests this metering batch needed was dropped meanwhile (by the retention or an operator); checking the partitions again",
                        metadata: ["cluster.batch": "\(events.count)"])
                    continue
                } catch {
                    // A partition believed to exist may have been dropped (by the retention, or
                    // an operator): check them all again at the next attempt.
                    state.forgetPartitions()
                    throw error
                }
                partitionRetried = false
                try await metering.removeFromOutbox(through: last.sequence)
                state.addShipped(events.count, discarded: expired)
                if expired > 0 {
                    logger.warning(
                        "metering events older than the retention were discarded, not shipped (their days are no longer kept)",
                        metadata: [
                            "cluster.discarded": "\(expired)",
                            "retention.kept_from": "\(UsageCalendar.isoDate(ofDay: max(ownFirstKept, keptFrom)))",
                        ])
                }
                if inserted < events.count {
                    // Rare (a batch sent again after a stop between insert and removal, or an
                    // account deleted meanwhile), and the evidence that a re-send added nothing.
                    logger.info(
                        "metering events the cluster database already had, or whose account is gone, were skipped",
                        metadata: ["cluster.skipped": "\(events.count - inserted)"])
                }
                pause = .milliseconds(100)
            } catch {
                guard !Task.isCancelled else { break }
                partitionRetried = false
                let depth = (try? metering.outboxDepth()) ?? -1
                if outageSince == nil {
                    outageSince = .now
                    lastDepthLog = .now
                    // The database may have answered with a refusal rather than not answered:
                    // say which.
                    let what =
                        Self.refusal(error).map { "the cluster database refused a metering batch (\($0))" }
                        ?? "cluster database unreachable"
                    logger.warning(
                        "\(what); metering events wait in this node's outbox until it takes them: \(String(reflecting: error))",
                        metadata: ["cluster.outbox": "\(depth)"])
                } else if ContinuousClock.now - lastDepthLog >= .seconds(60) {
                    lastDepthLog = .now
                    logger.warning(
                        "metering events waiting in this node's outbox", metadata: ["cluster.outbox": "\(depth)"])
                }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(1))
            }
        }
    }

    private func reportReturn(_ outageSince: inout ContinuousClock.Instant?) {
        guard let since = outageSince else { return }
        outageSince = nil
        logger.notice(
            "cluster metering outbox drained after the database returned",
            metadata: ["cluster.outage": "\(ContinuousClock.now - since)"])
    }

    /// Whether `error` is the database saying a row's day partition of `pellet_requests` does
    /// not exist (any more): "no partition of relation ... found for row" (23514), or the
    /// partition gone between planning and running the insert (42P01).
    static func isMissingPartition(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        if state == "42P01" { return true }
        return state == "23514" && (error.serverInfo?[.message] ?? "").contains("no partition")
    }

    /// The database's own message, when it answered `error` with a refusal (nil: no answer).
    static func refusal(_ error: any Error) -> String? {
        guard let error = error as? PSQLError, let info = error.serverInfo, let message = info[.message] else { return nil }
        return "\(info[.sqlState] ?? "?"): \(message)"
    }

    /// Inserts the events (of accounts the database still has) and returns how many were new.
    private func insert(_ events: [MeteringEvent]) async throws -> Int {
        var accounts: [String] = [], times: [Int64] = [], requests: [String] = [], keys: [String] = []
        var tasks: [String] = [], models: [String] = [], providers: [String] = []
        var prompt: [Int64] = [], completion: [Int64] = [], cached: [Int64] = [], estimated: [Bool] = []
        var costs: [Int64] = [], latencies: [Int64] = [], firstTokens: [Int64] = []
        var statuses: [Int64] = [], attempts: [Int64] = []
        for event in events {
            accounts.append(event.accountID)
            times.append(Int64(clamping: event.unixMs))
            requests.append(event.requestID)
            keys.append(event.keyID)
            tasks.append(event.taskType)
            models.append(event.model)
            providers.append(event.provider)
            prompt.append(Int64(event.promptTokens))
            completion.append(Int64(event.completionTokens))
            cached.append(Int64(event.cachedPromptTokens))
            estimated.append(event.tokensEstimated)
            costs.append(Int64(clamping: event.costMicroUSD))
            latencies.append(Int64(event.latencyMs))
            firstTokens.append(Int64(event.timeToFirstTokenMs))
            statuses.append(Int64(event.status))
            attempts.append(Int64(event.attempts))
        }
        // FOR KEY SHARE: an account deletion (which deletes the account's rows) waits for this
        // insert, and an insert after it finds no account; no row outlives its account.
        let rows = try await client.query(
            """
            INSERT INTO pellet_requests (
                account_id, unix_ms, request_id, key_id, task_type, model, provider,
                prompt_tokens, completion_tokens, cached_prompt_tokens, tokens_estimated,
                cost_micro_usd, latency_ms, time_to_first_token_ms, status, attempts)
            SELECT e.* FROM unnest(
                \(accounts)::text[], \(times)::bigint[], \(requests)::text[], \(keys)::text[],
                \(tasks)::text[], \(models)::text[], \(providers)::text[],
                \(prompt)::bigint[], \(completion)::bigint[], \(cached)::bigint[], \(estimated)::boolean[],
                \(costs)::bigint[], \(latencies)::bigint[], \(firstTokens)::bigint[],
                \(statuses)::bigint[], \(attempts)::bigint[]
            ) AS e (
                account_id, unix_ms, request_id, key_id, task_type, model, provider,
                prompt_tokens, completion_tokens, cached_prompt_tokens, tokens_estimated,
                cost_micro_usd, latency_ms, time_to_first_token_ms, status, attempts)
            WHERE EXISTS (SELECT 1 FROM pellet_accounts a WHERE a.id = e.account_id FOR KEY SHARE)
            ON CONFLICT DO NOTHING
            RETURNING 1
            """,
            logger: logger)
        var inserted = 0
        for try await _ in rows { inserted += 1 }
        return inserted
    }

    /// Creates the day partitions among `days` not known to exist, under the partition lock (two
    /// nodes creating the same partition at once would otherwise collide), except those before
    /// the cluster's first day kept (``ClusterHousekeeping``), which it returns (as last read).
    private func ensurePartitions(_ days: [UInt32]) async throws -> UInt32 {
        let missing = days.filter { !state.hasPartition($0) }
        guard !missing.isEmpty else { return state.keptFromDay }
        let logger = self.logger
        let (keptFrom, created) = try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(ClusterSchema.partitionLock))", logger: logger)
            var keptFrom: UInt32 = 0
            for try await day in try await connection.query(
                "SELECT requests_kept_from_day FROM pellet_housekeeping", logger: logger
            ).decode(Int32.self) {
                keptFrom = UInt32(clamping: day)
            }
            let created = missing.filter { $0 >= keptFrom }
            for day in created {
                try await connection.query(ClusterSchema.requestPartition(day: day), logger: logger)
            }
            return (keptFrom, created)
        }
        state.notePartitions(created, keptFrom: keptFrom)
        return keptFrom
    }
}

private struct ShipperTimeout: Error, CustomStringConvertible {
    var description: String { "no answer from the cluster database within the batch timeout" }
}

/// The shipper's figures and the partitions it knows exist. An NSLock, as ChangeFeedState.
private final class ShipperState: @unchecked Sendable {
    private let lock = NSLock()
    private var _shipped = 0
    private var _discarded = 0
    private var partitions: Set<UInt32> = []
    private var _keptFromDay: UInt32 = 0
    private var lastPartitionCheck = ContinuousClock.now

    var shipped: Int { lock.withLock { _shipped } }
    var discarded: Int { lock.withLock { _discarded } }
    /// The cluster's first day kept in `pellet_requests`, as last read.
    var keptFromDay: UInt32 { lock.withLock { _keptFromDay } }

    func addShipped(_ count: Int, discarded: Int) {
        lock.withLock {
            _shipped += count
            _discarded += discarded
        }
    }

    func hasPartition(_ day: UInt32) -> Bool { lock.withLock { partitions.contains(day) } }

    func notePartitions(_ days: [UInt32], keptFrom: UInt32) {
        lock.withLock {
            partitions.formUnion(days)
            _keptFromDay = max(_keptFromDay, keptFrom)
        }
    }

    func forgetPartitions() { lock.withLock { partitions = [] } }

    /// Once an hour the partitions ahead are checked again, and the memory of them forgotten (a
    /// retention may have dropped some, an operator may have dropped others).
    func partitionCheckIsDue() -> Bool {
        lock.withLock {
            guard ContinuousClock.now - lastPartitionCheck >= .seconds(3600) else { return false }
            lastPartitionCheck = .now
            partitions = []
            return true
        }
    }
}
