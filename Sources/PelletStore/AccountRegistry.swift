/// A table holding data that belongs to an account.
///
/// Every such table registers with the store (``Store/register(_:)``), so that deleting an
/// account removes its rows everywhere and exporting an account includes them, without the
/// account code knowing the table. Keys of per-account rows should start with
/// ``AccountScope/prefix(_:)`` so that ``WriteTransaction/deleteAll(_:prefix:)`` is a range
/// delete.
public protocol AccountScopedTable: Sendable {
    /// The member of the export object holding this table's data (e.g. "usage_counters").
    var exportName: String { get }
    /// Removes every row of the account. Runs inside the deleting transaction: throwing rolls
    /// back the whole deletion.
    func deleteAll(accountID: String, in transaction: WriteTransaction) throws
    /// The account's rows as JSON, for the account's data export.
    func export(accountID: String, in transaction: ReadTransaction) throws -> JSONValue
}

/// The key layout for per-account rows.
public enum AccountScope {
    /// Separates the account id from the rest of a key. Account ids are base62, so it never
    /// occurs inside one, and one account's prefix is never a prefix of another's.
    public static let separator = "/"

    /// The prefix of every key of the account's rows: `"<account id>/"`.
    public static func prefix(_ accountID: String) -> String {
        accountID + separator
    }

    /// A key for one of the account's rows: `"<account id>/<rest>"`.
    public static func key(_ accountID: String, _ rest: String) -> String {
        accountID + separator + rest
    }
}

/// The registered account-scoped tables, in registration order.
final class AccountRegistry: Sendable {
    private let tables = LockedState<[any AccountScopedTable]>([])

    /// Adds `table`, replacing a table registered under the same export name.
    func register(_ table: any AccountScopedTable) {
        tables.withLock { tables in
            if let index = tables.firstIndex(where: { $0.exportName == table.exportName }) {
                tables[index] = table
            } else {
                tables.append(table)
            }
        }
    }

    var all: [any AccountScopedTable] {
        tables.withLock { $0 }
    }
}
