import Logging
import PelletWire

/// Metering: what each call cost, per account, and the budgets enforced against it.
///
/// Created once per store, at start-up, by ``Store/openMetering(retentionDays:)``. Recording a
/// call (``record(_:)``, ``settle(_:recording:)``) is one write transaction, committed on the
/// calling thread while the store's writer is idle in `.batched` durability, else in the writer's
/// group commit: it adds the request record, the call to its daily counter (account,
/// day, key, model, provider, task type), and its cost to the account's monthly total, which is
/// also the month-to-date spend budgets check. Reads (the Usage query, the monthly totals) are
/// synchronous. The tables take part in account deletion and export. Budgets
/// (``reserve(accountID:budgetMicroUSD:estimateMicroUSD:)``) are checked in memory, against the
/// month's spend and the holds of calls in flight.
public final class Metering: Sendable {
    public let store: Store
    /// How long request records and daily counters are kept; also the longest Usage range.
    public let retentionDays: Int
    let tables: MeteringTables
    let budgets: BudgetLedger
    let logger: Logger

    public static let defaultRetentionDays = 90

    init(store: Store, tables: MeteringTables, retentionDays: Int) {
        self.store = store
        self.tables = tables
        self.retentionDays = retentionDays
        self.logger = store.logger
        let monthly = tables.monthly
        // The closure holds the store, not the metering object: no reference cycle.
        self.budgets = BudgetLedger(clock: store.configuration.now) { accountID, month in
            try store.read { transaction in
                try transaction.totals(monthly, key: UsageKeys.monthly(accountID, month: month))?.costMicroUsd ?? 0
            }
        }
    }

    // MARK: Recording

    /// Records a call that held no reservation (e.g. one refused or failed before any budget
    /// check). Returns once the event is committed, and in `.full` durability on disk. Its cost
    /// counts towards the account's budget at once, before the commit.
    ///
    /// Recording the same request id (at the same time) twice is a no-op the second time.
    /// Fails with `.notFound` if the account no longer exists (nothing is written), and with
    /// `.invalidArgument` for an event whose ids or names cannot be stored.
    public func record(_ event: MeteringEvent) async throws {
        try await awaitRecording(event, settling: nil)
    }

    /// Records the call `reservation` was made for and releases the hold; in the same critical
    /// section the event's cost joins the month's spend, so the call is never counted twice
    /// or not at all by a concurrent ``reserve(accountID:budgetMicroUSD:estimateMicroUSD:)``.
    /// If the write fails the hold stays released, the cost stays counted in the month's spend
    /// in memory (the call did cost it), and the error is thrown: the caller must not answer OK.
    public func settle(_ reservation: Reservation, recording event: MeteringEvent) async throws {
        try await awaitRecording(event, settling: reservation)
    }

    /// ``settle(_:recording:)`` for a caller that is not in a task: `completion` runs once the
    /// event is committed, on the calling thread before this returns (a refusal, or a commit
    /// made there) or else on the store's writer thread. It must be quick and must not block.
    ///
    /// `commitHere`: the event may be committed on the calling thread while the store's writer
    /// is idle (``Store/writeOnCallingThreadIfIdle(_:completion:)``). Worth it for a caller with
    /// nothing else to do (it saves two thread wake-ups); a caller with other work waiting does
    /// better leaving the commit to the writer thread, which runs alongside it.
    public func settle(
        _ reservation: Reservation, recording event: MeteringEvent, commitHere: Bool = true,
        completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        record(event, settling: reservation, commitHere: commitHere, completion: completion)
    }

    /// Records many events in one write: for imports, replays and bulk loads (benchmarks).
    /// Either all are recorded or, on an error, none; duplicates are skipped.
    public func record(contentsOf events: [MeteringEvent]) async throws {
        for event in events { try event.validate() }
        for (index, event) in events.enumerated() {
            do {
                try budgets.charge(
                    accountID: event.accountID,
                    costMicroUSD: event.costMicroUSD,
                    unixMs: event.unixMs,
                    settling: nil
                )
            } catch {
                events[..<index].forEach(refund)
                throw error
            }
        }
        let tables = self.tables
        let accounts = store.tables.accounts
        let written: [Bool]
        do {
            written = try await store.write { transaction in
                try events.map { try Self.apply($0, tables: tables, accounts: accounts, in: transaction) }
            }
        } catch {
            events.forEach(refund)
            throw error
        }
        for (event, wasWritten) in zip(events, written) where !wasWritten {
            refund(event)
        }
    }

    private func awaitRecording(_ event: MeteringEvent, settling reservation: Reservation?) async throws {
        try await withCheckedThrowingContinuation { continuation in
            record(event, settling: reservation, commitHere: true) { continuation.resume(with: $0) }
        }
    }

    private func record(
        _ event: MeteringEvent, settling reservation: Reservation?, commitHere: Bool,
        completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        do {
            try event.validate()
        } catch {
            if let reservation { budgets.release(reservation) }
            return completion(.failure(error))
        }
        do {
            try budgets.charge(
                accountID: event.accountID,
                costMicroUSD: event.costMicroUSD,
                unixMs: event.unixMs,
                settling: reservation
            )
        } catch {
            return completion(.failure(error))
        }
        let tables = self.tables
        let accounts = store.tables.accounts
        // Only writes in the transaction: replayable, so the writer groups it without nesting.
        let body: @Sendable (WriteTransaction) throws -> Bool = { transaction in
            try Self.apply(event, tables: tables, accounts: accounts, in: transaction)
        }
        let recorded: @Sendable (Result<Bool, any Error>) -> Void = { [self] result in
            switch result {
            case .success(let written):
                // A duplicate changed nothing: its cost is not spent twice.
                if !written { refund(event) }
                completion(.success(()))
            case .failure(let error):
                // No refund: the call happened and its cost was spent at the provider, so the
                // budget keeps counting it although the record could not be written (fail
                // closed: a store that cannot take writes never makes calls free).
                completion(.failure(error))
            }
        }
        if commitHere {
            store.writeOnCallingThreadIfIdle(body, completion: recorded)
        } else {
            store.writeReplayable(body, completion: recorded)
        }
    }

    private func refund(_ event: MeteringEvent) {
        budgets.refund(accountID: event.accountID, costMicroUSD: event.costMicroUSD, unixMs: event.unixMs)
    }

    /// Writes one event; returns false for a duplicate (already recorded, nothing changed).
    /// A handful of reads and three puts (four with the outbox).
    private static func apply(
        _ event: MeteringEvent,
        tables: MeteringTables,
        accounts: Database,
        in transaction: WriteTransaction
    ) throws -> Bool {
        // Rows written for a deleted account would never be deleted: refuse them.
        guard try transaction.contains(accounts, key: event.accountID) else {
            throw StoreError.notFound("no account has id \(event.accountID)")
        }
        let requestKey = UsageKeys.request(event.accountID, unixMs: event.unixMs, requestID: event.requestID)
        guard try !transaction.contains(tables.requests, key: requestKey) else { return false }
        try transaction.put(tables.requests, key: requestKey, value: StoredRequestRecord.encode(event))

        let dailyKey = UsageKeys.daily(event)
        var daily = try transaction.reader.totals(tables.daily, key: dailyKey) ?? UsageTotals()
        daily.add(event)
        try transaction.put(tables.daily, key: dailyKey, value: StoredTotals.encode(daily))

        let monthlyKey = UsageKeys.monthly(event.accountID, month: UsageCalendar.month(unixMs: event.unixMs))
        var monthly = try transaction.reader.totals(tables.monthly, key: monthlyKey) ?? UsageTotals()
        monthly.add(event)
        try transaction.put(tables.monthly, key: monthlyKey, value: StoredTotals.encode(monthly))
        if let outbox = tables.outbox {
            // In the same transaction: an event is committed with its place in the outbox or
            // not at all.
            try MeteringOutbox.append(event, to: outbox, in: transaction)
        }
        return true
    }

    // MARK: Budgets

    /// Holds `estimateMicroUSD` of the account's monthly budget for a call about to go to a
    /// provider, or throws ``BudgetError`` if month-to-date spend + holds + the estimate would
    /// pass `budgetMicroUSD` (0 = no limit: always admitted, still held so that a budget set
    /// later sees the calls in flight). The month is the store clock's, in UTC.
    ///
    /// Synchronous and short (one lock; the first call for an account in a month also reads its
    /// monthly total). Settle the reservation with ``settle(_:recording:)`` or ``release(_:)``.
    public func reserve(accountID: String, budgetMicroUSD: UInt64, estimateMicroUSD: UInt64) throws -> Reservation {
        try budgets.reserve(accountID: accountID, budgetMicroUSD: budgetMicroUSD, estimateMicroUSD: estimateMicroUSD)
    }

    /// Cluster mode: reservations also stay within this node's share of each budget, leased
    /// from the cluster. Call once, before calls are served.
    public func useBudgetLeases(_ leases: any BudgetLeasing) {
        budgets.useLeases(leases)
    }

    /// The budget leases in use (cluster mode), or nil.
    public var budgetLeases: (any BudgetLeasing)? { budgets.leases }

    /// Releases the hold of a call that died without a cost to record.
    public func release(_ reservation: Reservation) {
        budgets.release(reservation)
    }

    /// The month-to-date spend (recorded calls, committed or about to be) and the amount held
    /// by calls in flight, as a budget check sees them.
    public func budgetStanding(accountID: String) throws -> (spentMicroUSD: UInt64, reservedMicroUSD: UInt64) {
        try budgets.standing(accountID: accountID)
    }

    /// Drops the in-memory budget state of a deleted account. Call after ``Store/deleteAccount(id:)``.
    public func forgetAccount(id: String) {
        budgets.forget(accountID: id)
    }

    // MARK: Billing totals

    /// One calendar month (UTC) of an account's usage.
    public struct MonthlyUsage: Sendable, Equatable {
        public var year: Int
        /// 1...12.
        public var month: Int
        public var totals: UsageTotals
    }

    /// The account's totals per month, oldest first: kept while the account lives, whatever
    /// the retention of request records and daily counters. Fails with `.notFound` for an
    /// unknown account.
    public func monthlyTotals(accountID: String) throws -> [MonthlyUsage] {
        let tables = self.tables
        let accounts = store.tables.accounts
        return try store.read { transaction in
            guard try transaction.contains(accounts, key: accountID) else {
                throw StoreError.notFound("no account has id \(accountID)")
            }
            let prefix = UsageKeys.accountPrefix(accountID)
            var months: [MonthlyUsage] = []
            try transaction.scan(tables.monthly, prefix: prefix) { key, value in
                guard let month = UsageKeys.month(UnsafeRawBufferPointer(rebasing: key[prefix.count...])) else {
                    return true
                }
                let (year, calendarMonth) = UsageCalendar.yearAndMonth(month)
                months.append(
                    MonthlyUsage(
                        year: year,
                        month: calendarMonth,
                        totals: try StoredTotals.decode(value, table: tables.monthly.name)
                    )
                )
                return true
            }
            return months
        }
    }
}

extension Store {
    /// Opens (creating if needed) the metering tables and registers them for account deletion
    /// and export. Call once, at start-up, after opening the store; keep the result for the
    /// life of the store (it holds the budgets' in-memory state).
    ///
    /// `outbox` (cluster mode): every event recorded is also put in the metering outbox, from
    /// which it is shipped to the cluster's database (``Metering/outboxBatch(limit:)``).
    public func openMetering(
        retentionDays: Int = Metering.defaultRetentionDays, outbox: Bool = false
    ) async throws -> Metering {
        guard retentionDays >= 1 else {
            throw StoreError.invalidArgument("the retention must be at least 1 day, not \(retentionDays)")
        }
        let tables = MeteringTables(
            daily: try await openDatabase(named: MeteringTables.dailyName),
            requests: try await openDatabase(named: MeteringTables.requestsName),
            monthly: try await openDatabase(named: MeteringTables.monthlyName),
            outbox: outbox ? try await openDatabase(named: MeteringTables.outboxName) : nil
        )
        register(DailyCountersTable(database: tables.daily))
        register(RequestRecordsTable(database: tables.requests))
        register(MonthlyTotalsTable(database: tables.monthly))
        return Metering(store: self, tables: tables, retentionDays: retentionDays)
    }
}
