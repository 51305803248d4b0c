import Foundation
import PelletClient
import PelletTesting
import PelletWire
import XCTest

/// A data directory that ran alone joining a cluster (real pelletd, real PostgreSQL): its
/// accounts and keys are imported into the database at its first start in cluster mode, so a
/// full resynchronization keeps them; accounts that clash with the cluster's stop it starting,
/// with a message that says what to do, and change nothing.
final class ClusterSoloJoinTests: XCTestCase {
    private let adminToken = "cluster-admin-token-0123456789abcdef"
    private var admin: Credentials { Credentials(adminToken: adminToken) }

    /// Runs pelletd alone on `directory`, creates an account with a used key and a revoked one,
    /// and stops it. Returns the account's id, the used key's plaintext and the keys as listed.
    private func runAlone(on directory: String, email: String) async throws -> (account: String, key: String, keys: [ApiKey]) {
        let solo = try startSoloNode(adminToken: adminToken, dataDirectory: directory)
        let client = try await client(solo)
        let created = try await accountCall(.create(Account(name: "Solo", email: email)), admin, on: client)
        let accountID = try XCTUnwrap(created.account?.id)
        let used = try await accountCall(.createKey(CreateKey(accountId: accountID, name: "used")), admin, on: client)
        _ = try await accountCall(.get(""), Credentials(apiKey: used.apiKey), on: client)
        let old = try await accountCall(.createKey(CreateKey(accountId: accountID, name: "old")), admin, on: client)
        let revokedID = try XCTUnwrap(old.keys.first?.id)
        _ = try await accountCall(.revokeKey(revokedID), admin, on: client)
        // The use is written behind the call: wait for it to be listed.
        try await waitUntil(.seconds(5), "the use is written") {
            try await self.accountCall(.listKeys(accountID), self.admin, on: client).keys.contains { $0.lastUsedUnixMs > 0 }
        }
        let keys = try await accountCall(.listKeys(accountID), admin, on: client).keys
        await client.close()
        try solo.stop()
        return (accountID, used.apiKey, keys)
    }

    func testADirectoryThatRanAloneBringsItsAccountsAndKeysIntoTheClusterAndKeepsThemThroughAResync() async throws {
        let database = try PostgresTestServer()
        let soloDirectory = try TemporaryDirectory(prefix: "cluster-solo")
        let (accountID, key, keys) = try await runAlone(on: soloDirectory.path, email: "solo@example.com")

        // The cluster has an account of its own, and has pruned its change log (as the
        // housekeeping does after 7 days), so a new node loads a full snapshot: the step that
        // used to drop a solo directory's accounts.
        let member = try startClusterNode(database, adminToken: adminToken)
        defer { _ = try? member.stop() }
        let m = try await client(member)
        _ = try await accountCall(.create(Account(name: "Member", email: "member@example.com")), admin, on: m)
        try database.psql("UPDATE pellet_housekeeping SET changes_pruned_through = (SELECT max(sequence) FROM pellet_changes)")
        try database.psql("DELETE FROM pellet_changes")

        let joined = try startClusterNode(database, adminToken: adminToken, dataDirectory: soloDirectory.path)
        let j = try await client(joined)
        // Both nodes have the account and its keys, revoked one revoked, last use kept; the key
        // authenticates on the node that never saw it before.
        for node in [j, m] {
            try await waitUntil(.seconds(5), "the account reaches every node") {
                (try? await self.accountCall(.get(accountID), self.admin, on: node)) != nil
            }
            let listed = try await accountCall(.listKeys(accountID), admin, on: node).keys
            XCTAssertEqual(listed.map(\.id).sorted(), keys.map(\.id).sorted())
            for original in keys {
                let there = try XCTUnwrap(listed.first { $0.id == original.id })
                XCTAssertEqual(there.revokedUnixMs, original.revokedUnixMs)
                XCTAssertEqual(there.lastUsedUnixMs, original.lastUsedUnixMs)
            }
            let own = try await accountCall(.get(""), Credentials(apiKey: key), on: node)
            XCTAssertEqual(own.account?.id, accountID)
        }
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_accounts"), "2")
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_keys"), "2")
        await j.close()

        // Started again it imports nothing more (its copy now follows the cluster).
        let changes = try rows(database, "SELECT count(*) FROM pellet_changes")
        try joined.stop()
        let again = try startClusterNode(database, adminToken: adminToken, dataDirectory: soloDirectory.path)
        let g = try await client(again)
        let own = try await accountCall(.get(""), Credentials(apiKey: key), on: g)
        XCTAssertEqual(own.account?.id, accountID)
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_changes"), changes)
        for client in [g, m] { await client.close() }
        try again.stop()

        // Run alone again, the former node's directory is not imported at its next join: it
        // says so at start.
        let alone = try startSoloNode(adminToken: adminToken, dataDirectory: soloDirectory.path)
        let stopped = try alone.stop()
        XCTAssertTrue(
            stopped.stderr.contains("this data directory is a cluster node's copy, now run without --database-url"),
            stopped.stderr)
    }

    func testADirectoryWhoseAccountsClashWithTheClustersDoesNotStartSaysWhyAndChangesNothing() async throws {
        let database = try PostgresTestServer()
        let member = try startClusterNode(database, adminToken: adminToken)
        defer { _ = try? member.stop() }
        let m = try await client(member)
        let taken = try await accountCall(.create(Account(name: "Taken", email: "taken@example.com")), admin, on: m)
        let takenID = try XCTUnwrap(taken.account?.id)
        await m.close()

        // Alone, another account took the same email (emails match case-insensitively).
        let soloDirectory = try TemporaryDirectory(prefix: "cluster-solo-clash")
        let (accountID, _, _) = try await runAlone(on: soloDirectory.path, email: "TAKEN@example.com")
        let changes = try rows(database, "SELECT count(*) FROM pellet_changes")

        let refused = try PelletdProcess.launch(
            dataDirectory: soloDirectory.path,
            arguments: ["--database-url", database.url, "--tcp", "off", "--discovery-interval", "off"],
            environment: MockProviders.environment(adminToken: adminToken)
        ).waitForExit(timeout: .seconds(30))
        refused.assertRefusedToStart(
            mentioning: "account \(accountID) has email TAKEN@example.com, which account \(takenID) in the cluster has")
        XCTAssertTrue(refused.stderr.contains("none were imported"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("without --database-url and change or delete"), refused.stderr)
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_accounts"), "1")
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_changes"), changes)

        // What the message says to do: alone again, change the email; then it joins.
        let solo = try startSoloNode(adminToken: adminToken, dataDirectory: soloDirectory.path)
        let s = try await client(solo)
        _ = try await accountCall(.update(Account(id: accountID, email: "solo@example.com")), admin, on: s)
        await s.close()
        try solo.stop()
        let joined = try startClusterNode(database, adminToken: adminToken, dataDirectory: soloDirectory.path)
        defer { _ = try? joined.stop() }
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_accounts"), "2")
    }
}
