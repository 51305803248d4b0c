import Foundation
import PelletClient
import PelletTesting
import PelletWire
import XCTest

/// A key's `last_used` across a cluster: real pelletd nodes on a real PostgreSQL. A use on one
/// node shows in every node's key list within seconds, from batched reports (no database write
/// per call), and no replicated change (a revocation) takes it back.
final class ClusterKeyUseTests: XCTestCase {
    private let adminToken = "cluster-admin-token-0123456789abcdef"
    private var admin: Credentials { Credentials(adminToken: adminToken) }

    /// The key `keyID` as node `client` lists it.
    private func listed(_ keyID: String, of accountID: String, on client: PelletClient) async throws -> ApiKey? {
        try await accountCall(.listKeys(accountID), admin, on: client).keys.first { $0.id == keyID }
    }

    func testAKeysUseOnOneNodeShowsInEveryNodesListWithoutADatabaseWritePerCall() async throws {
        let database = try PostgresTestServer()
        let first = try startClusterNode(database, adminToken: adminToken)
        defer { _ = try? first.stop() }
        let second = try startClusterNode(database, adminToken: adminToken)
        defer { _ = try? second.stop() }
        let (a, b) = (try await client(first), try await client(second))

        let created = try await accountCall(.create(Account(name: "Lin", email: "lin@example.com")), admin, on: a)
        let accountID = try XCTUnwrap(created.account?.id)
        let used = try await accountCall(.createKey(CreateKey(accountId: accountID, name: "used")), admin, on: a)
        let usedID = try XCTUnwrap(used.keys.first?.id)
        let idle = try await accountCall(.createKey(CreateKey(accountId: accountID, name: "idle")), admin, on: a)
        let idleID = try XCTUnwrap(idle.keys.first?.id)
        let key = Credentials(apiKey: used.apiKey)

        // Fifty calls with the key on the second node (the first as soon as the key got there).
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        try await waitUntil(.seconds(5), "the key reaches the second node") {
            (try? await self.accountCall(.get(""), key, on: b)) != nil
        }
        for _ in 0..<49 { _ = try await accountCall(.get(""), key, on: b) }
        let after = UInt64(Date().timeIntervalSince1970 * 1000)

        // The first node lists the use within two report intervals (5 s each).
        let started = ContinuousClock.now
        try await waitUntil(.seconds(15), "the first node lists the second node's use") {
            (try await self.listed(usedID, of: accountID, on: a))?.lastUsedUnixMs ?? 0 > 0
        }
        print("cluster: a key's use on one node was listed on another after \(ContinuousClock.now - started)")
        let listedUsed = try await listed(usedID, of: accountID, on: a)
        let seen = try XCTUnwrap(listedUsed).lastUsedUnixMs
        XCTAssertTrue((before...after).contains(seen), "\(seen) not in \(before)...\(after)")
        let listedIdle = try await listed(idleID, of: accountID, on: a)
        XCTAssertEqual(listedIdle?.lastUsedUnixMs, 0)
        // Fifty calls, one raise in the database: uses are written at most once a minute per key
        // and reported in batches.
        XCTAssertEqual(try rows(database, "SELECT last_used FROM pellet_keys WHERE id = '\(usedID)'"), "\(seen)")
        XCTAssertEqual(try rows(database, "SELECT last_value FROM pellet_key_use_sequence"), "1")

        // A node started later reads it from the database (its copy got the key as created).
        let third = try startClusterNode(database, adminToken: adminToken)
        defer { _ = try? third.stop() }
        let c = try await client(third)
        try await waitUntil(.seconds(15), "the third node lists the use") {
            (try await self.listed(usedID, of: accountID, on: c))?.lastUsedUnixMs == seen
        }

        // A revocation (a replicated change of the key's record) keeps the use on every node.
        let revocation = try await accountCall(.revokeKey(usedID), admin, on: a)
        let revoked = try XCTUnwrap(revocation.keys.first)
        XCTAssertEqual(revoked.lastUsedUnixMs, seen)
        for node in [a, b, c] {
            try await waitUntil(.seconds(5), "every node lists the key revoked") {
                (try await self.listed(usedID, of: accountID, on: node))?.revokedUnixMs ?? 0 > 0
            }
            let there = try await listed(usedID, of: accountID, on: node)
            XCTAssertEqual(there?.lastUsedUnixMs, seen)
        }
        for client in [a, b, c] { await client.close() }
    }
}
