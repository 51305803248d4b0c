import Foundation
import PelletWire

extension Store {
    /// Everything held for the account, as JSON: the account, its keys' metadata (never a hash),
    /// and the rows of every registered per-account table, each under its export name. Read in
    /// one transaction, so the parts are consistent. Fails with `.notFound` for an unknown id.
    public func exportAccount(id: String) throws -> [UInt8] {
        let scopedTables = registry.all
        let tables = self.tables
        let exportedAt = configuration.now()
        let document: JSONValue = try read { transaction in
            guard try transaction.contains(tables.accounts, key: id) else {
                throw StoreError.notFound("no account has id \(id)")
            }
            var members: [String: JSONValue] = [
                "format": "pellet.account_export.v1",
                "exported_unix_ms": .uint(exportedAt),
            ]
            for table in scopedTables {
                members[table.exportName] = try table.export(accountID: id, in: transaction)
            }
            return .object(members)
        }
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
