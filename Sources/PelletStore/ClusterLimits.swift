/// Hooks through which cluster mode shares budgets and rate limits across nodes (PelletCluster
/// implements them with leases from PostgreSQL). The store and the server call them; they never
/// depend on PostgreSQL themselves. A single pelletd has none, and behaves as it always has.

/// What this node may commit of an account's monthly budget: its lease.
public struct BudgetAllowance: Sendable, Equatable {
    /// The most this node's month spend plus its holds may reach (its share of the budget).
    public var limitMicroUSD: UInt64
    /// Other nodes hold budget they have not spent, which may come back (they return an idle or
    /// stopped node's share): a refusal says "try again soon", not "next month".
    public var othersMayReturn: Bool
    /// The last attempt to lease more could not reach the cluster database.
    public var databaseUnreachable: Bool

    public init(limitMicroUSD: UInt64, othersMayReturn: Bool = false, databaseUnreachable: Bool = false) {
        self.limitMicroUSD = limitMicroUSD
        self.othersMayReturn = othersMayReturn
        self.databaseUnreachable = databaseUnreachable
    }
}

/// This node's shares of accounts' monthly budgets (cluster mode).
///
/// ``allowance(accountID:month:budgetMicroUSD:committedMicroUSD:estimateMicroUSD:)`` is called
/// by every reservation of an account with a budget, under the lock of the account's ledger
/// stripe: it must be quick, must not block and must not call back into ``Metering``. It may
/// start a refill in the background (its own threads, never the caller's).
public protocol BudgetLeasing: Sendable {
    /// This node's current share of the account's budget for `month`; `committedMicroUSD` is the
    /// node's month spend plus holds, `estimateMicroUSD` what the call asking may cost.
    func allowance(
        accountID: String, month: UInt32, budgetMicroUSD: UInt64, committedMicroUSD: UInt64,
        estimateMicroUSD: UInt64
    ) -> BudgetAllowance

    /// Asks the cluster for enough of the account's budget to cover `neededMicroUSD` more, and
    /// calls `completion` once the answer is in (or a bounded wait ran out), on a thread of the
    /// leases' own. The caller then tries its reservation again.
    func refill(
        accountID: String, budgetMicroUSD: UInt64, neededMicroUSD: UInt64,
        completion: @escaping @Sendable () -> Void)
}

/// What the cluster's share of an account's rate limit says about one more call.
public enum RateLeaseDecision: Sendable, Equatable {
    case admitted
    /// The cluster's allowance for this minute is used up.
    case refused(retryAfterMs: UInt64)
    /// This node holds no calls of the account's allowance for this minute: wait for a lease
    /// (``RateLeasing/waitForLease(accountID:rpm:completion:)``).
    case needsLease
    /// The cluster database could not be reached to lease calls.
    case unavailable
}

/// This node's shares of accounts' per-minute rate limits (cluster mode).
public protocol RateLeasing: Sendable {
    /// Takes one call of this node's share of the account's allowance for the current minute.
    /// Quick, local, never blocks.
    func acquire(accountID: String, rpm: UInt32) -> RateLeaseDecision

    /// Lines the call up for the next chunk leased from the cluster; `completion` runs once with
    /// `.admitted`, `.refused` or `.unavailable` (after a bounded wait), on a thread of the
    /// leases' own.
    func waitForLease(accountID: String, rpm: UInt32, completion: @escaping @Sendable (RateLeaseDecision) -> Void)
}
