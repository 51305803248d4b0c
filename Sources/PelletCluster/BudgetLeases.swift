import Foundation
import Logging
import PelletStore
import PostgresNIO
import Synchronization

/// This node's shares of accounts' monthly budgets, leased from the cluster's database, so that
/// N nodes together never grant more than an account's budget.
///
/// A lease row (`pellet_budget_leases`, per account, month and node) says how much of the month's
/// budget the node may have spent plus held (`granted`, its own spend included); the rows of an
/// account's month never add up to more than its budget. Every reservation is checked in memory
/// (``BudgetLedger``, through ``allowance(accountID:month:budgetMicroUSD:committedMicroUSD:estimateMicroUSD:)``)
/// against the smaller of the budget and the node's `granted`, this node's month spend plus holds
/// on the other side: no database round trip per call. Before the share runs out it is refilled
/// in the background; a call it cannot cover waits (bounded) for a refill, and is refused if the
/// cluster has no more.
///
/// A refill is one transaction that locks the account's row: expired leases of other nodes are
/// cut back to what they last reported spent; then this node's `granted` becomes its spend plus
/// what it asks for, at most what the other nodes leave of the budget. Every second the node
/// renews its leases (`expires_at`), reports its spend plus holds (`spent`), and hands back the
/// unused part of a lease no call used for 5 s. On a graceful stop it hands back
/// every unused part. The node uses a lease only until its own copy of the expiry (counted from
/// when it sent the renewal, so always before the database's): a node cut off from the database
/// serves from its share until then, and refuses beyond it (fail closed).
final class BudgetLeases: BudgetLeasing {
    struct Settings: Sendable {
        /// A lease not renewed for this long may be cut back by other nodes.
        var ttl: Duration = .seconds(30)
        /// How long a call waits for a refill, and a database statement for an answer.
        var waitLimit: Duration = .seconds(2)
        /// A refill asks for this fraction of the budget (1/n), at most half of what is free.
        var chunkDivisor: UInt64 = 10
        /// A lease no call used for this long hands its unused part back (at a renewal).
        var idleReturn: Duration = .seconds(5)

        /// How often leases are renewed: at most every second, and at least four times a lease.
        var renewInterval: Duration { min(.seconds(1), ttl / 4) }
    }

    private struct Key: Hashable {
        let accountID: String
        let month: UInt32
    }

    private struct Lease {
        var budget: UInt64
        var granted: UInt64 = 0
        /// When this node stops using `granted` unless renewed; nil: never granted.
        var validUntil: ContinuousClock.Instant?
        /// A refill or renewal of this lease is under way (one at a time, so that answers never
        /// arrive out of the order the database committed them).
        var busy = false
        /// What calls waiting for a refill need, summed.
        var wanted: UInt64 = 0
        var waiters: [@Sendable () -> Void] = []
        /// When a reservation last asked.
        var lastUsed = ContinuousClock.now
        /// The last refill gave less than asked: the cluster's budget is all leased out.
        var exhaustedAt: ContinuousClock.Instant?
        var othersMayReturn = false
        var databaseUnreachable = false
    }

    private struct State {
        var month: UInt32 = 0
        var leases: [Key: Lease] = [:]
    }

    private let client: PostgresClient
    private let nodeID: String
    private let settings: Settings
    private let logger: Logger
    /// The month (UTC) by the store's clock, as the budgets count it.
    private let currentMonth: @Sendable () -> UInt32
    /// This node's month spend plus holds of an account, as its budget ledger counts them.
    private let committed: @Sendable (String) -> UInt64?
    private let state = Mutex(State())
    private let outage: OutageLog

    init(
        client: PostgresClient, nodeID: String, settings: Settings, logger: Logger,
        currentMonth: @escaping @Sendable () -> UInt32, committed: @escaping @Sendable (String) -> UInt64?
    ) {
        self.client = client
        self.nodeID = nodeID
        self.settings = settings
        self.logger = logger
        self.currentMonth = currentMonth
        self.committed = committed
        self.outage = OutageLog(logger: logger, what: "leasing budget")
    }

    // MARK: The hot path

    func allowance(
        accountID: String, month: UInt32, budgetMicroUSD: UInt64, committedMicroUSD: UInt64,
        estimateMicroUSD: UInt64
    ) -> BudgetAllowance {
        let key = Key(accountID: accountID, month: month)
        let now = ContinuousClock.now
        let chunk = max(1, budgetMicroUSD / settings.chunkDivisor)
        let (allowance, refill) = state.withLock { state -> (BudgetAllowance, Bool) in
            Self.enter(month, &state)
            var lease = state.leases[key] ?? Lease(budget: budgetMicroUSD)
            defer { state.leases[key] = lease }
            lease.lastUsed = now
            let valid = lease.budget == budgetMicroUSD && lease.validUntil.map { now < $0 } ?? false
            // An expired lease, or one leased under another budget, admits nothing new.
            let limit = valid ? lease.granted : min(lease.granted, committedMicroUSD)
            let recentlyExhausted = lease.exhaustedAt.map { now - $0 < .milliseconds(500) } ?? false
            let low = limit < committedMicroUSD.saturatingPlus(estimateMicroUSD).saturatingPlus(chunk / 2)
            var refill = false
            if !lease.busy && (!valid || (low && !recentlyExhausted)) {
                lease.busy = true
                refill = true
            }
            return (
                BudgetAllowance(
                    limitMicroUSD: limit, othersMayReturn: lease.othersMayReturn,
                    databaseUnreachable: lease.databaseUnreachable),
                refill
            )
        }
        if refill { startRefill(key, budget: budgetMicroUSD) }
        return allowance
    }

    func refill(
        accountID: String, budgetMicroUSD: UInt64, neededMicroUSD: UInt64, completion: @escaping @Sendable () -> Void
    ) {
        let key = Key(accountID: accountID, month: currentMonth())
        let now = ContinuousClock.now
        let start = state.withLock { state -> Bool? in
            Self.enter(key.month, &state)
            var lease = state.leases[key] ?? Lease(budget: budgetMicroUSD)
            defer { state.leases[key] = lease }
            // The cluster said "no more" a moment ago: no new round trip for each refused call.
            if !lease.busy, lease.budget == budgetMicroUSD, let exhausted = lease.exhaustedAt,
                now - exhausted < .milliseconds(500), lease.validUntil.map({ now < $0 }) ?? false
            {
                return nil
            }
            lease.wanted = lease.wanted.saturatingPlus(neededMicroUSD)
            lease.waiters.append(completion)
            if lease.busy { return false }
            lease.busy = true
            return true
        }
        if let start {
            if start { startRefill(key, budget: budgetMicroUSD) }
        } else {
            completion()
        }
    }

    /// Month rollover: the leases of earlier months are forgotten here (their rows stay, and
    /// count for nothing: budgets look at the current month).
    private static func enter(_ month: UInt32, _ state: inout State) {
        guard month > state.month else { return }
        state.month = month
        // A lease with a refill or renewal under way stays until it ends (its callers wait).
        state.leases = state.leases.filter { $0.key.month >= month || $0.value.busy }
    }

    // MARK: Refills

    private func startRefill(_ key: Key, budget: UInt64) {
        Task { await self.runRefill(key, budget: budget) }
    }

    private func runRefill(_ key: Key, budget: UInt64) async {
        let committed = self.committed(key.accountID) ?? 0
        let ended = state.withLock { state -> [@Sendable () -> Void]? in
            guard key.month < state.month else { return nil }
            // The month ended: the lease goes, its callers try the new month's.
            let waiters = state.leases[key]?.waiters ?? []
            state.leases[key] = nil
            return waiters
        }
        if let ended {
            for waiter in ended { waiter() }
            return
        }
        let wanted = state.withLock { state -> UInt64 in
            let wanted = state.leases[key]?.wanted ?? 0
            state.leases[key]?.wanted = 0
            return wanted
        }
        let sentAt = ContinuousClock.now
        let answer: LeaseAnswer?
        do {
            answer = try await within(settings.waitLimit, orThrow: { LeaseTimeout() }) {
                try await self.lease(key, budget: budget, committed: committed, wanted: wanted)
            }
            outage.succeeded()
        } catch {
            answer = nil
            outage.failed("cannot lease budget from the cluster database; nodes serve only from the shares they hold", error)
        }
        let waiters = state.withLock { state -> [@Sendable () -> Void] in
            guard var lease = state.leases[key] else { return [] }
            guard key.month >= state.month else {
                // The month ended meanwhile: the lease goes, its callers try the new month's.
                state.leases[key] = nil
                return lease.waiters
            }
            if let answer {
                lease.granted = answer.granted
                lease.budget = budget
                lease.validUntil = sentAt + settings.ttl
                lease.othersMayReturn = answer.othersUnused > 0
                lease.databaseUnreachable = false
                lease.exhaustedAt = answer.granted < answer.asked ? .now : nil
            } else {
                lease.databaseUnreachable = true
            }
            // Calls that lined up after the refill was sent try the new share too; one that it
            // does not cover is refused (and its caller told when to try again).
            let waiters = lease.waiters
            lease.waiters = []
            lease.wanted = 0
            lease.busy = false
            state.leases[key] = lease
            return waiters
        }
        for waiter in waiters { waiter() }
    }

    private struct LeaseAnswer: Sendable {
        var granted: UInt64
        var asked: UInt64
        var othersUnused: UInt64
    }

    /// The lease transaction: see the type's comment.
    private func lease(_ key: Key, budget: UInt64, committed: UInt64, wanted: UInt64) async throws -> LeaseAnswer {
        let nodeID = self.nodeID
        let logger = self.logger
        let month = Int32(clamping: key.month)
        let account = key.accountID
        let ttlMs = Int64(settings.ttl.components.seconds * 1000 + settings.ttl.components.attoseconds / 1_000_000_000_000_000)
        let divisor = settings.chunkDivisor
        return try await client.withTransaction(logger: logger) { connection in
            // Serializes the leases of one account (and a lease with the account's deletion).
            var exists = false
            for try await _ in try await connection.query(
                "SELECT 1 FROM pellet_accounts WHERE id = \(account) FOR NO KEY UPDATE", logger: logger)
            {
                exists = true
            }
            guard exists else { return LeaseAnswer(granted: 0, asked: 1, othersUnused: 0) }
            try await connection.query(
                """
                UPDATE pellet_budget_leases SET granted = spent
                WHERE account_id = \(account) AND month = \(month) AND node_id <> \(nodeID)
                    AND expires_at < now() AND granted > spent
                """, logger: logger)
            var others: Int64 = 0, othersUnused: Int64 = 0, mine: Int64 = 0
            for try await (sum, unused, own) in try await connection.query(
                """
                SELECT coalesce(sum(granted) FILTER (WHERE node_id <> \(nodeID)), 0)::bigint,
                    coalesce(sum(granted - spent) FILTER (WHERE node_id <> \(nodeID) AND granted > spent), 0)::bigint,
                    coalesce(sum(granted) FILTER (WHERE node_id = \(nodeID)), 0)::bigint
                FROM pellet_budget_leases WHERE account_id = \(account) AND month = \(month)
                """, logger: logger
            ).decode((Int64, Int64, Int64).self) {
                (others, othersUnused, mine) = (sum, unused, own)
            }
            let available = budget.saturatingMinus(UInt64(max(0, others)))
            let free = available.saturatingMinus(committed)
            // A chunk of the budget, but at most half of what is free (so that the other nodes
            // find some too), and at least what the waiting calls need.
            let increment = max(wanted, min(max(1, budget / divisor), free / 2))
            let asked = max(UInt64(max(0, mine)), committed.saturatingPlus(increment))
            let granted = max(committed, min(asked, available))
            try await connection.query(
                """
                INSERT INTO pellet_budget_leases (account_id, month, node_id, granted, spent, expires_at)
                VALUES (\(account), \(month), \(nodeID), \(Int64(clamping: granted)), \(Int64(clamping: committed)),
                    now() + \(ttlMs) * interval '1 millisecond')
                ON CONFLICT (account_id, month, node_id) DO UPDATE
                SET granted = EXCLUDED.granted, spent = EXCLUDED.spent, expires_at = EXCLUDED.expires_at
                """, logger: logger)
            return LeaseAnswer(granted: granted, asked: asked, othersUnused: UInt64(max(0, othersUnused)))
        }
    }

    // MARK: Renewal and return

    /// Renews the leases every ``Settings/renewInterval`` until cancelled, then hands back their
    /// unused parts.
    func run() async {
        var lastCleanup: ContinuousClock.Instant?
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: settings.renewInterval)
            } catch {
                break
            }
            await renew(returningAll: false)
            if lastCleanup.map({ ContinuousClock.now - $0 >= .seconds(3_600) }) ?? true {
                lastCleanup = .now
                await deleteOldMonths()
            }
        }
        // Not in the cancelled task: its queries would be cancelled before they are sent.
        let leases = self
        await Task { await leases.renew(returningAll: true) }.value
    }

    /// This node's rows of months before the previous one count for nothing: they go (the
    /// previous month's stay a while, for an operator's look).
    private func deleteOldMonths() async {
        let month = Int32(clamping: currentMonth())
        _ = try? await within(settings.waitLimit, orThrow: { LeaseTimeout() }) {
            try await self.client.query(
                "DELETE FROM pellet_budget_leases WHERE node_id = \(self.nodeID) AND month < \(month) - 1",
                logger: self.logger)
        }
    }

    private struct Renewal {
        let key: Key
        let granted: UInt64
        let committed: UInt64
    }

    /// One statement for every lease this node holds: reports its spend plus holds, renews the
    /// expiry, and hands back the unused part of the leases no call used since the last
    /// renewal (of all of them with `returningAll`, on a graceful stop).
    private func renew(returningAll: Bool) async {
        let month = currentMonth()
        let candidates = state.withLock { state in
            state.leases.filter { $0.key.month == month && $0.value.validUntil != nil && !$0.value.busy }.map(\.key)
        }
        guard !candidates.isEmpty else { return }
        let spends = candidates.map { ($0, committed($0.accountID) ?? 0) }
        let sentAt = ContinuousClock.now
        let renewals = state.withLock { state -> [Renewal] in
            var renewals: [Renewal] = []
            for (key, spend) in spends {
                guard var lease = state.leases[key], !lease.busy else { continue }
                if returningAll || sentAt - lease.lastUsed >= settings.idleReturn {
                    // Idle: the unused part goes back at once (the spend read is at least the
                    // current one: a call reserving since would have marked the lease used).
                    lease.granted = min(lease.granted, spend)
                }
                lease.busy = true
                state.leases[key] = lease
                renewals.append(Renewal(key: key, granted: lease.granted, committed: spend))
            }
            return renewals
        }
        guard !renewals.isEmpty else { return }
        let nodeID = self.nodeID
        let logger = self.logger
        let ttlMs = Int64(settings.ttl.components.seconds * 1000 + settings.ttl.components.attoseconds / 1_000_000_000_000_000)
        let accounts = renewals.map(\.key.accountID)
        let months = renewals.map { Int32(clamping: $0.key.month) }
        let granted = renewals.map { Int64(clamping: $0.granted) }
        let spent = renewals.map { Int64(clamping: $0.committed) }
        var answers: [Key: UInt64]?
        do {
            answers = try await within(settings.waitLimit, orThrow: { LeaseTimeout() }) {
                // A lease cut back meanwhile (expired) stays cut back; it never falls below the
                // node's spend plus holds.
                let rows = try await self.client.query(
                    """
                    UPDATE pellet_budget_leases l
                    SET granted = GREATEST(LEAST(l.granted, r.granted), r.spent), spent = r.spent,
                        expires_at = now() + \(ttlMs) * interval '1 millisecond'
                    FROM unnest(\(accounts)::text[], \(months)::integer[], \(granted)::bigint[], \(spent)::bigint[])
                        AS r (account_id, month, granted, spent)
                    WHERE l.account_id = r.account_id AND l.month = r.month AND l.node_id = \(nodeID)
                    RETURNING l.account_id, l.month, l.granted
                    """, logger: logger)
                var answers: [Key: UInt64] = [:]
                for try await (account, month, granted) in rows.decode((String, Int32, Int64).self) {
                    answers[Key(accountID: account, month: UInt32(clamping: month))] = UInt64(max(0, granted))
                }
                return answers
            }
            outage.succeeded()
        } catch {
            answers = nil
            if !returningAll {
                outage.failed(
                    "cannot renew budget leases with the cluster database; this node serves from its shares until they expire",
                    error)
            }
        }
        let waiting = state.withLock { state -> [(Key, UInt64)] in
            var waiting: [(Key, UInt64)] = []
            for renewal in renewals {
                guard var lease = state.leases[renewal.key] else { continue }
                lease.busy = false
                if let answers {
                    // A row gone (the account deleted): nothing is granted any more.
                    lease.granted = answers[renewal.key] ?? 0
                    lease.validUntil = sentAt + settings.ttl
                    lease.databaseUnreachable = false
                } else {
                    lease.databaseUnreachable = true
                }
                if !lease.waiters.isEmpty {
                    lease.busy = true
                    waiting.append((renewal.key, lease.budget))
                } else if renewal.key.month < state.month {
                    // Kept through a month's end only while this renewal was under way.
                    state.leases[renewal.key] = nil
                    continue
                }
                state.leases[renewal.key] = lease
            }
            return waiting
        }
        // Calls that lined up for a refill during the renewal.
        for (key, budget) in waiting { startRefill(key, budget: budget) }
    }
}

private struct LeaseTimeout: Error, CustomStringConvertible {
    var description: String { "no answer from the cluster database in time" }
}

extension UInt64 {
    fileprivate func saturatingPlus(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }

    fileprivate func saturatingMinus(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}
