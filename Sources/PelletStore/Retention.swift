import Logging

extension Metering {
    /// The most rows one retention transaction deletes: about a millisecond of the writer's
    /// time, so metering events queued behind it barely wait.
    public static let retentionBatchLimit = 1_000

    /// The first day kept when today is `today`: the retention period ends today, inclusive.
    public static func firstRetainedDay(today: UInt32, retentionDays: Int) -> UInt32 {
        let keptBefore = UInt32(clamping: max(retentionDays, 1) - 1)
        return today > keptBefore ? today - keptBefore : 0
    }

    /// Deletes the request records and daily counters older than the retention (days before
    /// ``firstRetainedDay(today:retentionDays:)``), in write transactions of at most
    /// `batchLimit` deletions each, until none is left; returns how many rows it deleted.
    /// Monthly billing totals are kept. `now` defaults to the store's clock, `retentionDays`
    /// to the metering's. Checks for cancellation between transactions.
    @discardableResult
    public func enforceRetention(
        now: UInt64? = nil,
        retentionDays: Int? = nil,
        batchLimit: Int = Metering.retentionBatchLimit
    ) async throws -> Int {
        let today = UsageCalendar.day(unixMs: now ?? store.configuration.now())
        let firstKept = Self.firstRetainedDay(today: today, retentionDays: retentionDays ?? self.retentionDays)
        let limit = max(1, batchLimit)
        var deleted = 0
        for sweep in [
            RetentionSweep.dailyCounters(tables.daily, firstKept), .requestRecords(tables.requests, firstKept),
        ] {
            var position: [UInt8]? = []
            while let start = position {
                try Task.checkCancellation()
                let batch = try await store.write { transaction in
                    try sweep.deleteBatch(from: start, limit: limit, in: transaction)
                }
                deleted += batch.deleted
                position = batch.next
            }
        }
        return deleted
    }

    /// Starts the retention task: enforces the retention now and then every `interval`, until
    /// the returned task is cancelled (cancel it before closing the store). Failures are logged
    /// and retried at the next run. A run that deleted rows tells `compaction`, so that their
    /// bytes also leave the data file.
    public func startRetention(
        every interval: Duration = .seconds(3600),
        compaction: CompactionScheduler? = nil
    ) -> Task<Void, Never> {
        Task { [self] in
            while !Task.isCancelled {
                let started = ContinuousClock.now
                do {
                    let deleted = try await enforceRetention()
                    if deleted > 0 { compaction?.deletionHappened() }
                    logger.info(
                        "retention enforced",
                        metadata: [
                            "retention.days": "\(retentionDays)",
                            "retention.deleted": "\(deleted)",
                            "retention.duration": "\(ContinuousClock.now - started)",
                        ]
                    )
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("retention failed; retrying at the next run", metadata: ["error": "\(error)"])
                }
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
            }
        }
    }
}

/// One table's retention: which rows are expired, and where an account's next expired row can
/// be once a kept one is met, so that a sweep skips the kept rows instead of reading them.
struct RetentionSweep: Sendable {
    let database: Database
    /// Given a key after its "<account>/": whether the row is older than the retention.
    let isExpired: @Sendable (_ suffix: UnsafeRawBufferPointer) -> Bool
    /// Given "<account>/" of a kept row: the first key where an expired row of that account (or
    /// the next account) could be.
    let skipTarget: @Sendable (_ accountPrefix: [UInt8]) -> [UInt8]

    /// Daily counters are oldest first: after an account's first kept day, all the rest is
    /// kept, so the sweep jumps to the next account.
    static func dailyCounters(_ database: Database, _ firstKeptDay: UInt32) -> RetentionSweep {
        RetentionSweep(
            database: database,
            isExpired: { suffix in UsageKeys.dailyDay(suffix).map { $0 < firstKeptDay } ?? false },
            skipTarget: { prefix in Array(prefix.dropLast()) + [UsageKeys.accountSeparator + 1] }
        )
    }

    /// Request records are newest first: the account's expired ones start at the inverted
    /// cutoff time.
    static func requestRecords(_ database: Database, _ firstKeptDay: UInt32) -> RetentionSweep {
        let cutoff = UsageCalendar.startOfDay(firstKeptDay)
        return RetentionSweep(
            database: database,
            isExpired: { suffix in UsageKeys.requestTime(suffix).map { $0 < cutoff } ?? false },
            skipTarget: { prefix in
                var key = prefix
                key.appendBigEndian(UInt64.max - (cutoff > 0 ? cutoff - 1 : 0))
                return key
            }
        )
    }

    /// Deletes up to `limit` expired rows from `start` on, reading at most `4 × limit` keys;
    /// returns how many it deleted and where the next batch starts (nil: the table is done).
    func deleteBatch(
        from start: [UInt8],
        limit: Int,
        in transaction: WriteTransaction
    ) throws -> (deleted: Int, next: [UInt8]?) {
        var doomed: [[UInt8]] = []
        var visits = 0
        var position = start
        while doomed.count < limit && visits < 4 * limit {
            var next: [UInt8]?
            try transaction.scan(database, from: position) { key, _ in
                visits += 1
                let successor = Array(key) + [0]
                guard let separator = UsageKeys.separatorIndex(key) else {
                    next = successor
                    return false
                }
                if isExpired(UnsafeRawBufferPointer(rebasing: key[(separator + 1)...])) {
                    doomed.append(Array(key))
                    guard doomed.count < limit && visits < 4 * limit else {
                        next = successor
                        return false
                    }
                    return true
                }
                // Never backwards: a malformed row must not send the sweep in a circle.
                let target = skipTarget(Array(key[...separator]))
                next = successor.lexicographicallyPrecedes(target) ? target : successor
                return false
            }
            guard let next else {
                // The scan ran off the end of the table.
                try delete(doomed, in: transaction)
                return (doomed.count, nil)
            }
            position = next
        }
        try delete(doomed, in: transaction)
        return (doomed.count, position)
    }

    private func delete(_ keys: [[UInt8]], in transaction: WriteTransaction) throws {
        for key in keys {
            try transaction.delete(database, key: key)
        }
    }
}
