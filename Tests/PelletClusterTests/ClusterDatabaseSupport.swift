import Foundation
import Logging
import PelletStore
import PelletTesting
import PostgresNIO
import XCTest

@testable import PelletCluster

/// What the in-process cluster tests share: a migrated client of the test database, a cluster
/// link run on a store (a node), psql rows and polling. (The tests of real pelletd nodes have
/// their own in PelletCtlTests' ClusterTestSupport.)
extension XCTestCase {
    /// A client of `database`, its driver running until the returned task is cancelled, with
    /// the schema migrated.
    func connectMigrated(_ database: PostgresTestServer, logger: Logger) async throws -> (PostgresClient, Task<Void, Never>) {
        let client = PostgresClient(
            configuration: try DatabaseURL(parsing: database.url).clientConfiguration, backgroundLogger: logger)
        let driver = Task { await client.run() }
        try await ClusterSchema.migrate(client, logger: logger)
        return (client, driver)
    }

    /// Runs a cluster link on `store` (a node) until the returned task is cancelled, once its
    /// change feed has connected.
    func startLink(
        _ database: PostgresTestServer, _ store: Store, _ metering: Metering, logger: Logger
    ) async throws -> (Cluster, Task<Void, Never>) {
        let cluster = try Cluster(
            url: try DatabaseURL(parsing: database.url), store: store, metering: metering, logger: logger,
            accountDeleted: { _ in })
        let task = Task { await cluster.run() }
        let connected = await cluster.waitUntilConnected(timeout: .seconds(20))
        XCTAssertTrue(connected)
        return (cluster, task)
    }

    /// The lines psql prints for `sql` (unaligned, tuples only).
    func rows(_ database: PostgresTestServer, _ sql: String) throws -> [String] {
        try database.psql(sql).split(separator: "\n").map(String.init)
    }

    /// Polls `body` every 20 ms until it returns true; fails after `limit`.
    func waitUntil(_ limit: Duration, _ what: String, _ body: () throws -> Bool) async throws {
        let start = ContinuousClock.now
        while !((try? body()) ?? false) {
            guard ContinuousClock.now - start < limit else {
                XCTFail("not within \(limit): \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
