import Foundation
import PelletWire

extension PelletClient {
    /// The whole export of an account: follows `export_account`'s pages to the end and joins
    /// them into one JSON document (each page's arrays appended to the same member's rows so
    /// far, other members kept from the first page that has them), so that an account of any
    /// size exports, though no single reply may pass the frame limit. `rowsPerPage` 0 is the
    /// server's default.
    public func exportAccount(
        _ accountID: String,
        credentials: Credentials,
        rowsPerPage: UInt32 = 0,
        timeout: Duration? = nil
    ) async throws(RPCError) -> [UInt8] {
        var joined: [String: Any] = [:]
        var cursor = ""
        repeat {
            let request = AccountRequest(
                credentials: credentials, op: .exportAccount(ExportAccount(accountId: accountID, cursor: cursor, limit: rowsPerPage)))
            let page = try await account(request, timeout: timeout)
            guard let members = try? JSONSerialization.jsonObject(with: Data(page.exportJson)) as? [String: Any] else {
                throw RPCError(.dataLoss, "a page of the export of account \(accountID) is not a JSON object")
            }
            for (name, value) in members {
                if let rows = value as? [Any], let earlier = joined[name] as? [Any] {
                    joined[name] = earlier + rows
                } else if joined[name] == nil {
                    joined[name] = value
                }
            }
            cursor = page.nextCursor
        } while !cursor.isEmpty
        do {
            return Array(try JSONSerialization.data(withJSONObject: joined, options: [.sortedKeys, .withoutEscapingSlashes]))
        } catch {
            throw RPCError(.internal, "cannot encode the export of account \(accountID): \(error)")
        }
    }
}
