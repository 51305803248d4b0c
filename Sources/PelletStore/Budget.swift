#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A hold on part of an account's monthly budget for one call in flight: the call's maximum
/// cost. Settle it by recording the call (``Metering/settle(_:recording:)``), or release it
/// (``Metering/release(_:)``) if the call died before costing anything. Settling or releasing
/// twice is harmless.
public struct Reservation: Sendable, Hashable {
    public let accountID: String
    public let estimateMicroUSD: UInt64
    let id: UInt64
}

/// A call refused because it could take the account past its monthly budget.
///
/// The server answers RESOURCE_EXHAUSTED with ``description`` as the message and
/// ``retryAfterMs`` as `retry_after_ms`.
public struct BudgetError: Error, Sendable, Equatable, CustomStringConvertible {
    public let accountID: String
    public let budgetMicroUSD: UInt64
    /// The month's spend so far, including calls recorded but not yet committed.
    public let spentMicroUSD: UInt64
    /// Held by calls in flight.
    public let reservedMicroUSD: UInt64
    /// What the refused call might have cost.
    public let estimateMicroUSD: UInt64
    /// When trying again could succeed: soon if calls in flight hold the difference (they may
    /// cost less than they hold), else at the start of the next month (UTC).
    public let retryAfterMs: UInt64
    /// Cluster mode: this node's share of the budget (its lease), when the refusal came from it
    /// rather than from the budget itself; `spentMicroUSD` and `reservedMicroUSD` are then this
    /// node's. Nil for a single pelletd.
    public var nodeShareMicroUSD: UInt64? = nil
    /// Cluster mode: the node could not reach the cluster database to lease more.
    public var databaseUnreachable = false

    /// Refused by this node's share of the budget, which a refill from the cluster may raise.
    public var isLeaseLimited: Bool { nodeShareMicroUSD != nil }

    public var description: String {
        guard let share = nodeShareMicroUSD else {
            return "monthly budget of \(Self.dollars(budgetMicroUSD)) reached: \(Self.dollars(spentMicroUSD)) spent and "
                + "\(Self.dollars(reservedMicroUSD)) reserved by calls in flight; this call may cost up to "
                + "\(Self.dollars(estimateMicroUSD))"
        }
        return "monthly budget of \(Self.dollars(budgetMicroUSD)) reached across the cluster: this node's share is "
            + "\(Self.dollars(share)), \(Self.dollars(spentMicroUSD)) spent and \(Self.dollars(reservedMicroUSD)) "
            + "reserved by calls in flight here"
            + (databaseUnreachable ? ", and the cluster database cannot be reached for more" : "")
            + "; this call may cost up to \(Self.dollars(estimateMicroUSD))"
    }

    /// "$12.34"; amounts under a cent keep their significant digits ("$0.0003") so that a
    /// refusal never reads "$0.00".
    static func dollars(_ microUSD: UInt64) -> String {
        let whole = microUSD / 1_000_000
        let fraction = microUSD % 1_000_000
        if whole == 0 && fraction > 0 && fraction < 10_000 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 6 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            return "$0.\(digits)"
        }
        let cents = fraction / 10_000
        return "$\(whole).\(cents < 10 ? "0" : "")\(cents)"
    }
}

/// Budgets without overspend: per account, the month-to-date spend and the holds of calls in
/// flight, behind the lock of the account's stripe.
///
/// A call is admitted only if spend + holds + its estimate fit in the budget, and recording a
/// call moves its hold into the spend in the same critical section, so no call is ever counted
/// in neither. The spend is the persisted month total, read when the account is first seen (or
/// the month changes), plus every call recorded since, counted here before its commit: a
/// refusal never waits for the disk, and a commit that fails is taken back out.
///
/// Why loading the persisted total never misses an uncommitted call: every record of an
/// account passes through here, and the first one for a month (or for the process) loads the
/// total before counting itself, under the lock of the account's stripe; so when a total is
/// loaded, this process has recorded nothing for that account and month that the total could
/// lack.
///
/// Every operation is O(1): an account's ledger is a reference its stripe's map holds, changed
/// in place, so no operation copies the holds of the calls in flight. Accounts are spread over
/// stripes by a hash of their id (as ``RateLimiter`` does), so event loops serving different
/// accounts rarely wait for each other, and a slow load of one account's spend holds up only
/// its stripe.
final class BudgetLedger: Sendable {
    /// One account's ledger. A class so that the stripe's map holds it by reference and an
    /// operation changes it in place: a struct would be copied out of the map and back, and
    /// with it (copy-on-write) the whole `holds` table.
    private final class Ledger {
        /// The month `spent` is for.
        var month: UInt32
        var spent: UInt64
        /// Sum of `holds`.
        var reserved: UInt64 = 0
        /// Reservation id → estimate.
        var holds: [UInt64: UInt64] = [:]

        init(month: UInt32, spent: UInt64) {
            self.month = month
            self.spent = spent
        }
    }

    private struct Stripe {
        var ledgers: [String: Ledger] = [:]
        /// Reservation ids are unique per stripe, and an account always maps to the same
        /// stripe: a reservation settled twice cannot release a later hold of its account, even
        /// after the ledger was dropped and made again.
        var nextReservationID: UInt64 = 1
        /// The latest month seen; when it changes, ledgers of idle accounts are dropped.
        var currentMonth: UInt32 = 0
    }

    private let stripes: [LockedState<Stripe>]
    /// The persisted month total of an account (its cost), read under the stripe's lock.
    private let loadSpend: @Sendable (_ accountID: String, _ month: UInt32) throws -> UInt64
    private let clock: @Sendable () -> UInt64
    /// Cluster mode: this node's shares of the budgets; nil for a single pelletd.
    private let leasing = LockedState<(any BudgetLeasing)?>(nil)

    /// After a refusal caused by calls in flight, when to try again.
    static let inFlightRetryMs: UInt64 = 1_000

    init(
        stripes: Int = 16,
        clock: @escaping @Sendable () -> UInt64,
        loadSpend: @escaping @Sendable (_ accountID: String, _ month: UInt32) throws -> UInt64
    ) {
        self.stripes = (0..<max(1, stripes)).map { _ in LockedState(Stripe()) }
        self.clock = clock
        self.loadSpend = loadSpend
    }

    /// Cluster mode: from now on every reservation also stays within this node's share.
    func useLeases(_ leases: any BudgetLeasing) {
        leasing.withLock { $0 = leases }
    }

    var leases: (any BudgetLeasing)? { leasing.withLock { $0 } }

    private func stripe(_ accountID: String) -> LockedState<Stripe> {
        stripes[Int(UInt(bitPattern: accountID.hashValue) % UInt(stripes.count))]
    }

    func reserve(accountID: String, budgetMicroUSD: UInt64, estimateMicroUSD: UInt64) throws -> Reservation {
        let now = clock()
        let month = UsageCalendar.month(unixMs: now)
        let leases = budgetMicroUSD > 0 ? self.leases : nil
        return try stripe(accountID).withLock { stripe in
            let ledger = try self.ledger(accountID, month: month, in: &stripe)
            if budgetMicroUSD > 0 {
                let committed = ledger.spent.addingSaturated(ledger.reserved)
                let allowance = leases?.allowance(
                    accountID: accountID, month: month, budgetMicroUSD: budgetMicroUSD,
                    committedMicroUSD: committed, estimateMicroUSD: estimateMicroUSD)
                let limit = min(budgetMicroUSD, allowance?.limitMicroUSD ?? budgetMicroUSD)
                guard committed.addingSaturated(estimateMicroUSD) <= limit else {
                    let fitsWithoutHolds = ledger.spent.addingSaturated(estimateMicroUSD) <= limit
                    let soon = fitsWithoutHolds || (allowance?.othersMayReturn ?? false)
                    let nextMonth = UsageCalendar.startOfMonth(month + 1)
                    var error = BudgetError(
                        accountID: accountID,
                        budgetMicroUSD: budgetMicroUSD,
                        spentMicroUSD: ledger.spent,
                        reservedMicroUSD: ledger.reserved,
                        estimateMicroUSD: estimateMicroUSD,
                        retryAfterMs: soon ? Self.inFlightRetryMs : nextMonth.subtractingSaturated(now)
                    )
                    if let allowance, limit < budgetMicroUSD {
                        error.nodeShareMicroUSD = limit
                        error.databaseUnreachable = allowance.databaseUnreachable
                    }
                    throw error
                }
            }
            let id = stripe.nextReservationID
            stripe.nextReservationID += 1
            ledger.holds[id] = estimateMicroUSD
            ledger.reserved = ledger.reserved.addingSaturated(estimateMicroUSD)
            return Reservation(accountID: accountID, estimateMicroUSD: estimateMicroUSD, id: id)
        }
    }

    /// Releases `reservation` (if given and still held) and counts `costMicroUSD` in the spend
    /// of the account's month holding `unixMs`, in one critical section.
    func charge(
        accountID: String,
        costMicroUSD: UInt64,
        unixMs: UInt64,
        settling reservation: Reservation?
    ) throws {
        let month = UsageCalendar.month(unixMs: unixMs)
        // A reservation is always the same account's (``Metering`` settles an event with the
        // reservation made for it); a stray one is released under its own stripe's lock.
        if let reservation, reservation.accountID != accountID {
            release(reservation)
        }
        try stripe(accountID).withLock { stripe in
            if let reservation, reservation.accountID == accountID {
                Self.releaseHold(reservation, in: &stripe)
            }
            let ledger = try self.ledger(accountID, month: month, in: &stripe)
            // A call stamped in an earlier month than the ledger's is in that month's
            // persisted total only: budgets look at the current month.
            if ledger.month == month {
                ledger.spent = ledger.spent.addingSaturated(costMicroUSD)
            }
        }
    }

    /// Takes back a charge whose commit failed (or that was a duplicate).
    func refund(accountID: String, costMicroUSD: UInt64, unixMs: UInt64) {
        let month = UsageCalendar.month(unixMs: unixMs)
        stripe(accountID).withLock { stripe in
            guard let ledger = stripe.ledgers[accountID], ledger.month == month else { return }
            ledger.spent = ledger.spent.subtractingSaturated(costMicroUSD)
        }
    }

    func release(_ reservation: Reservation) {
        stripe(reservation.accountID).withLock { stripe in Self.releaseHold(reservation, in: &stripe) }
    }

    /// The month-to-date spend and the holds, as budgets see them now.
    func standing(accountID: String) throws -> (spentMicroUSD: UInt64, reservedMicroUSD: UInt64) {
        let month = UsageCalendar.month(unixMs: clock())
        return try stripe(accountID).withLock { stripe in
            let ledger = try self.ledger(accountID, month: month, in: &stripe)
            return (ledger.spent, ledger.reserved)
        }
    }

    /// Forgets the account (after it was deleted), holds included.
    func forget(accountID: String) {
        stripe(accountID).withLock { stripe in stripe.ledgers[accountID] = nil }
    }

    private static func releaseHold(_ reservation: Reservation, in stripe: inout Stripe) {
        guard let ledger = stripe.ledgers[reservation.accountID],
            let estimate = ledger.holds.removeValue(forKey: reservation.id)
        else { return }
        ledger.reserved = ledger.reserved.subtractingSaturated(estimate)
    }

    /// The account's ledger, brought to `month` first: created from the persisted total if
    /// missing, rolled over (spend reloaded, holds kept) if older.
    private func ledger(_ accountID: String, month: UInt32, in stripe: inout Stripe) throws -> Ledger {
        if month > stripe.currentMonth {
            stripe.currentMonth = month
            // Idle ledgers of earlier months are dropped (once a month per stripe): reloading
            // one later is exact (see the type's comment), and this keeps the map to the
            // accounts active this month.
            stripe.ledgers = stripe.ledgers.filter { $0.value.month >= month || !$0.value.holds.isEmpty }
        }
        if let ledger = stripe.ledgers[accountID] {
            if ledger.month < month {
                ledger.spent = try loadSpend(accountID, month)
                ledger.month = month
            }
            return ledger
        }
        let ledger = Ledger(month: month, spent: try loadSpend(accountID, month))
        stripe.ledgers[accountID] = ledger
        return ledger
    }
}
