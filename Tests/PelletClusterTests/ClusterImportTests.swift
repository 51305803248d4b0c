import Foundation
import Logging
import PelletStore
import PelletTesting
import PelletWire
import PostgresNIO
import XCTest

@testable import PelletCluster

/// The import of a data directory that ran alone (``ClusterImport``) against a real PostgreSQL
/// and a real LMDB store: all or nothing, idempotent, refused on a clash with the database's
/// accounts or keys.
final class ClusterImportTests: XCTestCase {
    private let logger = Logger(label: "test.cluster.import")

    func testTheImportIsIdempotentAndAClashRefusesAllOfIt() async throws {
        let database = try PostgresTestServer()
        let (client, driver) = try await connectMigrated(database, logger: logger)
        defer { driver.cancel() }

        let directory = try TemporaryDirectory(prefix: "cluster-import")
        let store = try Store(configuration: StoreConfiguration(dataDirectory: directory.path), logger: logger)
        defer { store.close() }
        XCTAssertFalse(try store.holdsUnreplicatedAccounts())
        let ada = try await store.createAccount(Account(name: "Ada", email: "ada@example.com"))
        let bob = try await store.createAccount(
            Account(name: "Bob", email: "bob@example.com", oauthProvider: "github", oauthSubject: "42"))
        let (_, key) = try await store.createKey(accountID: ada.id, name: "k")
        XCTAssertTrue(store.touchKey(id: key.id, now: 1_700_000_000_000))
        try await waitUntil(.seconds(5), "the use is written") { try store.key(id: key.id)?.lastUsedUnixMs == 1_700_000_000_000 }
        XCTAssertTrue(try store.holdsUnreplicatedAccounts())
        let local = try store.localAccountsAndKeys()
        XCTAssertEqual(Set(local.accounts.map(\.id)), [ada.id, bob.id])
        XCTAssertEqual(local.keys.map(\.record.id), [key.id])

        let first = try await ClusterImport.run(local, client: client, logger: logger)
        XCTAssertEqual(first, ClusterImport.Report(accountsImported: 2, keysImported: 1))
        XCTAssertEqual(try rows(database, "SELECT kind FROM pellet_changes ORDER BY sequence"), ["account_put", "account_put", "key_put"])
        XCTAssertEqual(try rows(database, "SELECT last_used FROM pellet_keys"), ["1700000000000"])
        // Again (a node stopped before it applied the import): nothing more.
        let second = try await ClusterImport.run(local, client: client, logger: logger)
        XCTAssertEqual(second, ClusterImport.Report(accountsAlreadyThere: 2, keysAlreadyThere: 1))
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_changes"), ["3"])

        // Another directory's accounts: one new, one with Ada's email (in other case), one with
        // Bob's OAuth identity. Nothing of it goes in.
        let otherDirectory = try TemporaryDirectory(prefix: "cluster-import-other")
        let other = try Store(configuration: StoreConfiguration(dataDirectory: otherDirectory.path), logger: logger)
        defer { other.close() }
        _ = try await other.createAccount(Account(name: "New", email: "new@example.com"))
        let ada2 = try await other.createAccount(Account(name: "Ada 2", email: "ADA@example.com"))
        let bob2 = try await other.createAccount(
            Account(name: "Bob 2", email: "bob2@example.com", oauthProvider: "github", oauthSubject: "42"))
        do {
            _ = try await ClusterImport.run(try other.localAccountsAndKeys(), client: client, logger: logger)
            XCTFail("a clashing import went ahead")
        } catch {
            let refusal = try XCTUnwrap(ChangeFeed.unwrapped(error) as? ClusterImport.Refusal, "\(error)")
            XCTAssertEqual(
                Set(refusal.conflicts),
                [
                    "account \(ada2.id) has email ADA@example.com, which account \(ada.id) in the cluster has",
                    "account \(bob2.id) has the OAuth identity of account \(bob.id) in the cluster",
                ])
        }
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_accounts"), ["2"])
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_changes"), ["3"])
    }
}
