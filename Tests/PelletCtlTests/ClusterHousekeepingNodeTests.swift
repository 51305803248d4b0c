import Foundation
import PelletClient
import PelletMockProvider
import PelletTesting
import PelletWire
import XCTest

/// Cluster mode's housekeeping seen from real pelletd nodes on a real PostgreSQL: a node away
/// longer than the change horizon resynchronizes from a full snapshot, a deleted account's
/// events waiting in a node's outbox never reach `pellet_requests`, and Health shows the link.
final class ClusterHousekeepingNodeTests: XCTestCase {
    private let adminToken = "cluster-housekeeping-admin-token-0123"
    private var admin: Credentials { Credentials(adminToken: adminToken) }

    private func startNode(
        _ database: PostgresTestServer, _ mocks: MockProviders? = nil, dataDirectory: String? = nil
    ) throws -> PelletdProcess {
        try startClusterNode(database, mocks: mocks, adminToken: adminToken, dataDirectory: dataDirectory)
    }

    /// The status a call with `credentials` gets from `client` (`.ok` when it is answered).
    private func status(_ credentials: Credentials, on client: PelletClient) async -> Status {
        do {
            _ = try await accountCall(.get(""), credentials, on: client)
            return .ok
        } catch {
            return (error as? RPCError)?.status ?? .unknown
        }
    }

    func testANodeAwayLongerThanTheChangeHorizonReloadsEveryAccountAndKey() async throws {
        let database = try PostgresTestServer()
        var first = try startNode(database)
        let secondDirectory = try TemporaryDirectory(prefix: "cluster-resync-node")
        var second = try startNode(database, dataDirectory: secondDirectory.path)
        var a = try await client(first)
        func makeAccount(_ email: String) async throws -> String {
            let created = try await accountCall(.create(Account(name: "N", email: email)), admin, on: a)
            return try XCTUnwrap(created.account?.id)
        }
        func makeKey(_ accountID: String) async throws -> (id: String, credentials: Credentials) {
            let reply = try await accountCall(.createKey(CreateKey(accountId: accountID, name: "k")), admin, on: a)
            return (try XCTUnwrap(reply.keys.last?.id), Credentials(apiKey: reply.apiKey))
        }
        let kept = try await makeAccount("kept@example.com")
        let doomed = try await makeAccount("doomed@example.com")
        let keptKey = try await makeKey(kept)
        let revokedKey = try await makeKey(kept)
        let doomedKey = try await makeKey(doomed)
        var b = try await client(second)
        try await waitUntil(.seconds(5), "the keys reach the second node") {
            await self.status(doomedKey.credentials, on: b) == .ok
        }

        // The second node goes away; meanwhile an account is deleted, a key revoked, an account
        // updated and another created with a key.
        await b.close()
        XCTAssertEqual(try second.stop().status, 0)
        _ = try await accountCall(.delete(doomed), admin, on: a)
        _ = try await accountCall(.revokeKey(revokedKey.id), admin, on: a)
        _ = try await accountCall(.update(Account(id: kept, plan: "pro")), admin, on: a)
        let added = try await makeAccount("added@example.com")
        let addedKey = try await makeKey(added)
        let newest = try rows(database, "SELECT max(sequence) FROM pellet_changes")

        // A week and a day pass (for the change log), and the first node's housekeeping, which
        // runs at its start, prunes everything but the newest change.
        try database.psql("UPDATE pellet_changes SET committed_at = now() - interval '8 days'")
        await a.close()
        XCTAssertEqual(try first.stop().status, 0)
        first = try startNode(database)
        defer { _ = try? first.stop() }
        try await waitUntil(.seconds(20), "the change log is pruned") {
            try self.rows(database, "SELECT count(*) FROM pellet_changes") == "1"
        }
        XCTAssertEqual(try rows(database, "SELECT sequence FROM pellet_changes"), newest)
        XCTAssertNotEqual(try rows(database, "SELECT changes_pruned_through FROM pellet_housekeeping"), "0")

        // The second node comes back: the changes it missed are gone, so it loads the snapshot.
        second = try startNode(database, dataDirectory: secondDirectory.path)
        defer { _ = try? second.stop() }
        b = try await client(second)
        let keptOwn = try await accountCall(.get(""), keptKey.credentials, on: b)
        XCTAssertEqual(keptOwn.account?.plan, "pro")
        let addedOwn = try await accountCall(.get(""), addedKey.credentials, on: b)
        XCTAssertEqual(addedOwn.account?.id, added)
        let revokedStatus = await status(revokedKey.credentials, on: b)
        XCTAssertEqual(revokedStatus, .unauthenticated)
        let doomedStatus = await status(doomedKey.credentials, on: b)
        XCTAssertEqual(doomedStatus, .unauthenticated)
        do {
            _ = try await accountCall(.get(doomed), admin, on: b)
            XCTFail("the deleted account is still in the second node's copy")
        } catch let error as RPCError {
            XCTAssertEqual(error.status, .notFound)
        }
        let health = try await b.health()
        XCTAssertEqual(health.cluster?.appliedSequence, UInt64(newest))
        XCTAssertEqual(health.cluster?.databaseConnected, true)

        // And follows the feed from there.
        a = try await client(first)
        let later = try await makeKey(added)
        try await waitUntil(.seconds(5), "a later key reaches the second node") {
            await self.status(later.credentials, on: b) == .ok
        }
        await a.close()
        await b.close()
        let log = try second.stop().stderr
        XCTAssertTrue(log.contains("loading every account and key"), log)
        XCTAssertTrue(log.contains("cluster.accounts=2"), log)
        XCTAssertTrue(log.contains("cluster.accounts_deleted=1"), log)
    }

    func testADeletedAccountsEventsWaitingInAnOutboxNeverReachTheDatabaseAndHealthShowsTheOutbox() async throws {
        let database = try PostgresTestServer()
        let mocks = try await MockProviders.start(MockBehavior())
        defer { mocks.shutdownLater() }
        let first = try startNode(database, mocks)
        defer { _ = try? first.stop() }
        let secondDirectory = try TemporaryDirectory(prefix: "cluster-outbox-node")
        var second = try startNode(database, mocks, dataDirectory: secondDirectory.path)
        let a = try await client(first)
        var b = try await client(second)
        func makeKey(_ email: String) async throws -> (account: String, key: Credentials) {
            let created = try await accountCall(.create(Account(name: "N", email: email)), admin, on: a)
            let id = try XCTUnwrap(created.account?.id)
            let reply = try await accountCall(.createKey(CreateKey(accountId: id, name: "k")), admin, on: a)
            return (id, Credentials(apiKey: reply.apiKey))
        }
        let stays = try await makeKey("stays@example.com")
        let goes = try await makeKey("goes@example.com")
        try await waitUntil(.seconds(5), "the keys reach the second node") {
            await self.status(goes.key, on: b) == .ok
        }
        let connected = try await b.health()
        XCTAssertEqual(
            connected.cluster,
            ClusterHealth(
                databaseConnected: true,
                appliedSequence: UInt64(try rows(database, "SELECT max(sequence) FROM pellet_changes")) ?? 0,
                outboxEvents: 0))

        // The database crashes; calls go on and wait in each node's outbox, which Health shows.
        try database.stop(immediately: true)
        let messages = [ChatMessage(role: "user", content: "Say hello.")]
        for _ in 0..<3 {
            _ = try await a.complete(CompleteRequest(credentials: stays.key, messages: messages, maxTokens: 8))
            _ = try await b.complete(CompleteRequest(credentials: goes.key, messages: messages, maxTokens: 8))
        }
        for node in [a, b] {
            try await waitUntil(.seconds(15), "Health shows the outage and the outbox") {
                let cluster = try await node.health().cluster
                return cluster?.databaseConnected == false && cluster?.outboxEvents == 3
            }
        }
        let metrics = try HTTPGet.get(try XCTUnwrap(second.metricsURL), "/metrics").body
        XCTAssertTrue(metrics.contains("\npellet_cluster_database_connected 0\n"), metrics)
        XCTAssertTrue(metrics.contains("\npellet_cluster_outbox_events 3\n"), metrics)
        XCTAssertTrue(metrics.contains("\npellet_cluster_discarded_events_total 0\n"), metrics)
        let text = try pelletctl("health", "--server", second.unixAddress)
        text.assertSucceeded()
        XCTAssertTrue(
            text.stdout.contains("cluster    DATABASE UNREACHABLE, change "), text.stdout)
        XCTAssertTrue(text.stdout.contains(" applied, 3 metering events waiting in the outbox\n"), text.stdout)

        // The second node stops with its three events; the account they belong to is deleted
        // while it is away.
        await b.close()
        XCTAssertEqual(try second.stop().status, 0)
        try database.start()
        try await waitUntil(.seconds(40), "the first node's outbox drains") {
            let cluster = try await a.health().cluster
            return cluster?.databaseConnected == true && cluster?.outboxEvents == 0
        }
        _ = try await accountCall(.delete(goes.account), admin, on: a)

        // Back, it applies the deletion and ships: the deleted account's events are skipped.
        second = try startNode(database, mocks, dataDirectory: secondDirectory.path)
        defer { _ = try? second.stop() }
        b = try await client(second)
        try await waitUntil(.seconds(20), "the second node's outbox drains") {
            try await b.health().cluster?.outboxEvents == 0
        }
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_requests WHERE account_id = '\(goes.account)'"), "0")
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_requests WHERE account_id = '\(stays.account)'"), "3")
        let backMetrics = try HTTPGet.get(try XCTUnwrap(second.metricsURL), "/metrics").body
        XCTAssertTrue(backMetrics.contains("\npellet_cluster_database_connected 1\n"), backMetrics)
        let json = try pelletctl("health", "--json", "--server", second.unixAddress)
        json.assertSucceeded()
        let cluster = try XCTUnwrap(try jsonObject(json.stdout)["cluster"] as? [String: Any])
        XCTAssertEqual(cluster["database_connected"] as? Bool, true)
        XCTAssertEqual(cluster["outbox_events"] as? Int, 0)
        await a.close()
        await b.close()
        let log = try second.stop().stderr
        XCTAssertTrue(log.contains("cluster.skipped=3"), log)
    }
}
