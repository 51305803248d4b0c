import PelletWire

/// Where the Usage call reads: this node's metering when it works alone, the cluster's
/// database (every node's calls) in cluster mode.
public protocol UsageReads: Sendable {
    /// The Usage answer for `accountID` (the account the server resolved for the caller).
    func usage(_ request: UsageRequest, accountID: String) async throws -> UsageResponse
}
