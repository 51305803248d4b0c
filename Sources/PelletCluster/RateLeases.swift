import Foundation
import Logging
import PelletStore
import PostgresNIO
import Synchronization

/// This node's shares of accounts' per-minute rate limits (`rate_limit_rpm`), leased from one
/// counter per account and minute in the cluster's database.
///
/// The minute is the database's (`now()`), so every node counts the same windows whatever its
/// own clock says. A node leases a chunk of the minute's calls (a tenth of the limit, at least
/// the calls waiting) in one statement that never lets the minute's count pass the limit, and
/// admits calls from the chunk in memory until it is spent or the minute ends; then the next
/// call waits for one round trip. So in every minute of the database's clock the cluster admits
/// at most `rate_limit_rpm` calls; a chunk left unused at a node when the minute ends is lost,
/// so as few as `rpm - nodes × (chunk - 1)` may be admitted when the calls are spread thin. (Like
/// any fixed window, 60 s straddling two minutes may see up to twice the limit.) While the
/// database is unreachable a node admits what its chunk holds, then refuses (UNAVAILABLE): the
/// limit is never checked alone.
final class RateLeases: RateLeasing {
    private struct Window {
        var minute: Int64
        var calls: UInt32
        /// The end of the minute, on this node's clock (counted from when the lease was sent:
        /// never later than the database's).
        var endsAt: ContinuousClock.Instant
        /// The minute's count reached the limit: the rest of the minute is refused.
        var exhausted: Bool
    }

    private struct Account {
        var window: Window?
        var leasing = false
        var waiters: [@Sendable (RateLeaseDecision) -> Void] = []
        var unreachableAt: ContinuousClock.Instant?
    }

    private let client: PostgresClient
    private let logger: Logger
    private let waitLimit: Duration
    private let accounts = Mutex([String: Account]())
    private let outage: OutageLog

    init(client: PostgresClient, logger: Logger, waitLimit: Duration = .seconds(2)) {
        self.client = client
        self.logger = logger
        self.waitLimit = waitLimit
        self.outage = OutageLog(logger: logger, what: "leasing rate-limit calls")
    }

    static func chunk(_ rpm: UInt32) -> UInt32 { max(1, rpm / 10) }

    func acquire(accountID: String, rpm: UInt32) -> RateLeaseDecision {
        let now = ContinuousClock.now
        return accounts.withLock { accounts in
            var account = accounts[accountID] ?? Account()
            defer { accounts[accountID] = account }
            return Self.take(&account, now: now)
        }
    }

    /// One call from the account's chunk, or why not.
    private static func take(_ account: inout Account, now: ContinuousClock.Instant) -> RateLeaseDecision {
        if var window = account.window, now < window.endsAt {
            if window.calls > 0 {
                window.calls -= 1
                account.window = window
                return .admitted
            }
            if window.exhausted {
                return .refused(retryAfterMs: UInt64(max(1, (window.endsAt - now).milliseconds)))
            }
        }
        // Fail closed for a moment after the database could not be reached, rather than one
        // waiting call after another.
        if let unreachable = account.unreachableAt, now - unreachable < .seconds(1) { return .unavailable }
        return .needsLease
    }

    func waitForLease(accountID: String, rpm: UInt32, completion: @escaping @Sendable (RateLeaseDecision) -> Void) {
        let start = accounts.withLock { accounts -> Bool in
            var account = accounts[accountID] ?? Account()
            defer { accounts[accountID] = account }
            account.waiters.append(completion)
            guard !account.leasing else { return false }
            account.leasing = true
            return true
        }
        if start { Task { await self.lease(accountID: accountID, rpm: rpm) } }
    }

    /// Leases chunks until every waiting call has its answer.
    private func lease(accountID: String, rpm: UInt32) async {
        while true {
            let waiting = accounts.withLock { $0[accountID]?.waiters.count ?? 0 }
            let want = max(Self.chunk(rpm), UInt32(clamping: waiting))
            let sentAt = ContinuousClock.now
            var answer: (minute: Int64, granted: Int32, exhausted: Bool, msLeft: Int64)?
            do {
                answer = try await within(waitLimit, orThrow: { RateLeaseTimeout() }) {
                    try await self.leaseCalls(accountID: accountID, rpm: rpm, want: want)
                }
                outage.succeeded()
            } catch {
                outage.failed(
                    "cannot lease rate-limit calls from the cluster database; calls of rate-limited accounts beyond a node's share are refused",
                    error)
            }
            let (answered, more) = accounts.withLock { accounts -> ([(@Sendable (RateLeaseDecision) -> Void, RateLeaseDecision)], Bool) in
                var account = accounts[accountID] ?? Account()
                defer { accounts[accountID] = account }
                let now = ContinuousClock.now
                if let answer {
                    account.unreachableAt = nil
                    let endsAt = sentAt + .milliseconds(answer.msLeft)
                    if var window = account.window, window.minute == answer.minute, now < window.endsAt {
                        window.calls += UInt32(max(0, answer.granted))
                        window.exhausted = answer.exhausted
                        account.window = window
                    } else {
                        account.window = Window(
                            minute: answer.minute, calls: UInt32(max(0, answer.granted)), endsAt: endsAt,
                            exhausted: answer.exhausted)
                    }
                } else {
                    account.unreachableAt = now
                }
                var answered: [(@Sendable (RateLeaseDecision) -> Void, RateLeaseDecision)] = []
                while let waiter = account.waiters.first {
                    let decision = Self.take(&account, now: now)
                    // Calls the chunk did not cover, in a minute not yet used up: another round.
                    if decision == .needsLease && answer != nil { break }
                    account.waiters.removeFirst()
                    answered.append((waiter, decision == .needsLease ? .unavailable : decision))
                }
                let more = !account.waiters.isEmpty
                account.leasing = more
                return (answered, more)
            }
            for (waiter, decision) in answered { waiter(decision) }
            guard more else { return }
        }
    }

    /// Takes up to `want` calls of the account's current minute: the minute, the calls granted,
    /// whether the minute is now used up, and the milliseconds left in it.
    /// Deletes the counters of minutes long past (any node may; they count for nothing).
    func deleteOldWindows() async {
        _ = try? await within(waitLimit, orThrow: { RateLeaseTimeout() }) {
            try await self.client.query(
                "DELETE FROM pellet_rate_windows WHERE minute < (extract(epoch FROM now()) * 1000)::bigint / 60000 - 2",
                logger: self.logger)
        }
    }

    private func leaseCalls(
        accountID: String, rpm: UInt32, want: UInt32
    ) async throws -> (minute: Int64, granted: Int32, exhausted: Bool, msLeft: Int64) {
        let limit = Int32(clamping: rpm)
        let want = Int32(clamping: want)
        // Every SET expression reads the row as it was (locked by ON CONFLICT): the grant is
        // what is left of the limit, at most `want`.
        let rows = try await client.query(
            """
            WITH clock AS (SELECT (extract(epoch FROM now()) * 1000)::bigint AS ms)
            INSERT INTO pellet_rate_windows AS w (account_id, minute, taken, last_grant)
            SELECT \(accountID), clock.ms / 60000, LEAST(\(want), \(limit)), LEAST(\(want), \(limit)) FROM clock
            ON CONFLICT (account_id, minute) DO UPDATE
            SET last_grant = LEAST(\(want), GREATEST(\(limit) - w.taken, 0)),
                taken = w.taken + LEAST(\(want), GREATEST(\(limit) - w.taken, 0))
            RETURNING w.minute, w.last_grant, w.taken >= \(limit),
                (w.minute + 1) * 60000 - (SELECT ms FROM clock)
            """, logger: logger)
        for try await (minute, granted, exhausted, msLeft) in rows.decode((Int64, Int32, Bool, Int64).self) {
            return (minute, granted, exhausted, msLeft)
        }
        throw RateLeaseTimeout()
    }
}

private struct RateLeaseTimeout: Error, CustomStringConvertible {
    var description: String { "no answer from the cluster database in time" }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    fileprivate var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
