import Foundation
import PelletClient
import PelletMockProvider
import PelletTesting
import PelletWire
import XCTest

/// What the cluster tests share: a pelletd node on the test database (or alone), a client of it,
/// an Account call, polling, the outbox gauge and one-value SQL reads.
extension XCTestCase {
    /// A node of the cluster on `database` (Unix socket only, no model discovery), calling
    /// `mocks` if given.
    func startClusterNode(
        _ database: PostgresTestServer, mocks: MockProviders? = nil, adminToken: String,
        dataDirectory: String? = nil, arguments: [String] = []
    ) throws -> PelletdProcess {
        try PelletdProcess.start(
            dataDirectory: dataDirectory,
            arguments: (mocks?.arguments ?? [])
                + ["--database-url", database.url, "--tcp", "off", "--discovery-interval", "off"] + arguments,
            environment: MockProviders.environment(adminToken: adminToken))
    }

    /// A pelletd working alone (no database) on `dataDirectory`, as a node's would be before it
    /// joins a cluster.
    func startSoloNode(adminToken: String, dataDirectory: String) throws -> PelletdProcess {
        try PelletdProcess.start(
            dataDirectory: dataDirectory, arguments: ["--tcp", "off", "--discovery-interval", "off"],
            environment: MockProviders.environment(adminToken: adminToken))
    }

    /// One Account call.
    func accountCall(_ op: AccountRequest.Op, _ credentials: Credentials, on client: PelletClient) async throws
        -> AccountResponse
    {
        try await client.account(AccountRequest(credentials: credentials, op: op))
    }

    func client(_ node: PelletdProcess) async throws -> PelletClient {
        try await PelletClient.connect(to: .unix(path: try XCTUnwrap(node.unixPath)))
    }

    /// Polls `body` every 20 ms until it returns true; fails after `limit`.
    func waitUntil(_ limit: Duration, _ what: String, _ body: () async throws -> Bool) async throws {
        let start = ContinuousClock.now
        while !((try? await body()) ?? false) {
            guard ContinuousClock.now - start < limit else {
                XCTFail("not within \(limit): \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// What `sql` prints in psql's unaligned, tuples-only form, trimmed.
    func rows(_ database: PostgresTestServer, _ sql: String) throws -> String {
        try database.psql(sql).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The node's `pellet_cluster_outbox_events` gauge.
    func outboxDepth(_ node: PelletdProcess) throws -> Int? {
        let body = try HTTPGet.get(try XCTUnwrap(node.metricsURL), "/metrics").body
        return body.firstMatch(of: #/\npellet_cluster_outbox_events (\d+)/#).flatMap { Int($0.1) }
    }
}
