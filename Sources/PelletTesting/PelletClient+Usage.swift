import PelletClient
import PelletWire

extension PelletClient {
    /// Every request record of an account, through all pages of the Usage call (newest first),
    /// and the totals of the range.
    public func allRequestRecords(
        accountID: String, adminToken: String
    ) async throws(RPCError) -> (records: [RequestRecord], totals: UsageTotals?) {
        var request = UsageRequest(
            credentials: Credentials(adminToken: adminToken), accountId: accountID, listRequests: true, limit: 1_000)
        var records: [RequestRecord] = []
        var totals: UsageTotals?
        repeat {
            let page = try await usage(request)
            totals = totals ?? page.totals
            records += page.requests
            request.cursor = page.nextCursor
        } while !request.cursor.isEmpty
        return (records, totals)
    }
}
