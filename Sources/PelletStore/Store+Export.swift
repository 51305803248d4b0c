import Foundation
import PelletWire

extension Store {
    /// Everything held for the account, as JSON: the account, its keys' metadata (never a hash),
    /// and the rows of every registered per-account table, each under its export name. Read in
    /// one transaction, so the parts are consistent. Fails with `.notFound` for an unknown id.
    ///
    /// Its size grows with the account's usage without bound; a reply that must fit in a frame
    /// pages with ``exportAccountPage(id:cursor:limit:)`` instead.
    public func exportAccount(id: String) throws -> [UInt8] {
        let scopedTables = registry.all
        let exportedAt = configuration.now()
        let document: JSONValue = try read { transaction in
            try requireAccount(id, in: transaction)
            var members = Self.exportHeader(exportedAt)
            for table in scopedTables {
                members[table.exportName] = try table.export(accountID: id, in: transaction)
            }
            return .object(members)
        }
        return try Self.encodeExport(document, of: id)
    }

    /// Rows per export page when the caller names no limit, and the most it may ask for: a page
    /// of the largest rows (request records, about 400 bytes of JSON) stays far under the 4 MiB
    /// frame limit.
    public static let defaultExportPageRows = 1_000
    public static let maximumExportPageRows = 5_000

    /// One page of the account's export: an object of the same format as
    /// ``exportAccount(id:)``, holding the tables (or, for the table the page ends in, the rows)
    /// that fit in `limit` rows, and the cursor of the next page ("" after the last).
    ///
    /// Concatenating the pages' arrays member by member gives the whole export. Each page is
    /// its own read transaction: a row that exists for the whole export appears exactly once,
    /// while rows written during it may or may not appear. Tables that are not paged by key (the
    /// account, its keys) come whole in the page that reaches them.
    public func exportAccountPage(id: String, cursor: String, limit: Int) throws -> (json: [UInt8], nextCursor: String) {
        let scopedTables = registry.all
        let exportedAt = configuration.now()
        let start = try ExportCursor.decode(cursor, tables: scopedTables.map(\.exportName))
        let limit = limit <= 0 ? Self.defaultExportPageRows : min(limit, Self.maximumExportPageRows)
        let (document, next): (JSONValue, String) = try read { transaction in
            try requireAccount(id, in: transaction)
            var members = Self.exportHeader(exportedAt)
            var room = limit
            for (index, table) in scopedTables.enumerated() where index >= start.tableIndex {
                guard let paged = table as? any AccountPrefixedTable else {
                    members[table.exportName] = try table.export(accountID: id, in: transaction)
                    continue
                }
                let after = index == start.tableIndex ? start.afterKey : nil
                let page = try paged.exportRows(accountID: id, after: after, limit: room, in: transaction)
                members[table.exportName] = .array(page.rows)
                room -= page.rows.count
                if page.hasMore {
                    let resume = ExportCursor.encode(table: table.exportName, afterKey: page.lastKey)
                    return (.object(members), resume)
                }
            }
            return (.object(members), "")
        }
        return (try Self.encodeExport(document, of: id), next)
    }

    private func requireAccount(_ id: String, in transaction: ReadTransaction) throws {
        guard try transaction.contains(tables.accounts, key: id) else {
            throw StoreError.notFound("no account has id \(id)")
        }
    }

    private static func exportHeader(_ exportedAt: UInt64) -> [String: JSONValue] {
        ["format": "pellet.account_export.v1", "exported_unix_ms": .uint(exportedAt)]
    }

    private static func encodeExport(_ document: JSONValue, of id: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        // Sorted keys: the same data always exports to the same bytes.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(document))
        } catch {
            throw StoreError(kind: .io, message: "cannot encode the export of account \(id): \(error)")
        }
    }
}

extension AccountPrefixedTable {
    func export(accountID: String, in transaction: ReadTransaction) throws -> JSONValue {
        .array(try exportRows(accountID: accountID, after: nil, limit: .max, in: transaction).rows)
    }

    /// Up to `limit` of the account's rows in key order, starting after the key suffix
    /// `afterKey` (nil: from the first). `hasMore` says a row is left; `lastKey` is the suffix
    /// of the last row returned (nil when none was).
    func exportRows(
        accountID: String,
        after afterKey: [UInt8]?,
        limit: Int,
        in transaction: ReadTransaction
    ) throws -> (rows: [JSONValue], hasMore: Bool, lastKey: [UInt8]?) {
        let prefix = UsageKeys.accountPrefix(accountID)
        var rows: [JSONValue] = []
        var hasMore = false
        var lastKey: [UInt8]? = nil
        try transaction.scan(database, from: prefix + (afterKey ?? [])) { key, value in
            guard key.starts(with: prefix) else { return false }
            let suffix = UnsafeRawBufferPointer(rebasing: key[prefix.count...])
            // The scan starts at the cursor's own key: it was on the previous page.
            if let afterKey, suffix.elementsEqual(afterKey) { return true }
            guard rows.count < limit else {
                hasMore = true
                return false
            }
            rows.append(try exportRow(suffix: suffix, value: value))
            lastKey = Array(suffix)
            return true
        }
        return (rows, hasMore, lastKey)
    }
}

/// The export's cursor: the table a page ended in and the key suffix of its last row, in
/// base64url. A table's key order is stable, so rows written meanwhile do not shift it.
enum ExportCursor {
    private static let version: UInt8 = 1

    static func encode(table: String, afterKey: [UInt8]?) -> String {
        Base64URL.encode([version] + Array(table.utf8) + [0] + (afterKey ?? []))
    }

    /// Where the page starts: a table's index in `tables` and the key suffix to resume after.
    static func decode(_ cursor: String, tables: [String]) throws -> (tableIndex: Int, afterKey: [UInt8]?) {
        guard !cursor.isEmpty else { return (0, nil) }
        guard let data = Base64URL.decode(cursor), data.first == version, let separator = data.firstIndex(of: 0),
            let index = tables.firstIndex(of: String(decoding: data[data.startIndex + 1..<separator], as: UTF8.self))
        else {
            throw StoreError.invalidArgument("the export cursor \"\(cursor.prefix(64))\" is not one this server returned")
        }
        let afterKey = Array(data[(separator + 1)...])
        return (index, afterKey.isEmpty ? nil : afterKey)
    }
}
