import Foundation
import PelletClient
import PelletTesting
import PelletWire
import XCTest

/// Cluster mode's accounts and keys: several real pelletd on one real PostgreSQL (a throwaway
/// server in a temp directory), each with its own LMDB copy.
final class ClusterAccountsTests: XCTestCase {
    private let adminToken = "cluster-admin-token-0123456789abcdef"
    private var admin: Credentials { Credentials(adminToken: adminToken) }

    private func startNode(_ database: PostgresTestServer, dataDirectory: String? = nil) throws -> PelletdProcess {
        try startClusterNode(database, adminToken: adminToken, dataDirectory: dataDirectory)
    }

    /// Polls `body` every 5 ms until it returns true; returns how long that took, or fails
    /// after `limit`.
    private func timeUntil(_ limit: Duration, _ body: () async -> Bool) async throws -> Duration {
        let start = ContinuousClock.now
        while !(await body()) {
            guard ContinuousClock.now - start < limit else {
                XCTFail("not within \(limit)")
                return limit
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return ContinuousClock.now - start
    }

    func testThreeNodesShareAccountsAndKeysAndARevocationReachesEveryNodeWithinASecond() async throws {
        let database = try PostgresTestServer()
        let nodes = try (0..<3).map { _ in try startNode(database) }
        defer { for node in nodes { _ = try? node.stop() } }
        var clients: [PelletClient] = []
        for node in nodes { clients.append(try await client(node)) }
        let (a, b, c) = (clients[0], clients[1], clients[2])

        // Created on one node, keyed on another, authenticated on the third.
        let created = try await accountCall(
            .create(Account(name: "Ada", email: "ada@example.com")), admin, on: a
        ).account
        let accountID = try XCTUnwrap(created?.id)
        let keyReply = try await accountCall(.createKey(CreateKey(accountId: accountID, name: "ci")), admin, on: b)
        let key = Credentials(apiKey: keyReply.apiKey)
        // The node that made a change answers once its own copy has it; the others apply it
        // from the feed within milliseconds.
        let keyArrived = try await timeUntil(.seconds(1)) {
            (try? await self.accountCall(.get(""), key, on: c)) != nil
        }
        print("cluster: a key created on one node authenticated on another after \(keyArrived)")
        let own = try await accountCall(.get(""), key, on: c)
        XCTAssertEqual(own.account?.id, accountID)
        XCTAssertEqual(own.account?.email, "ada@example.com")

        // The database's unique email holds across nodes, with the single node's message.
        do {
            _ = try await accountCall(.create(Account(name: "Other", email: "ADA@example.com")), admin, on: c)
            XCTFail("a second account took the email")
        } catch let error as RPCError {
            XCTAssertEqual(error.status, .alreadyExists)
            XCTAssertEqual(error.message, "an account with email ADA@example.com already exists")
        }

        // An update on one node is what every node reads.
        _ = try await accountCall(.update(Account(id: accountID, plan: "pro")), admin, on: b)
        _ = try await timeUntil(.seconds(1)) {
            (try? await self.accountCall(.get(accountID), self.admin, on: a))?.account?.plan == "pro"
        }

        // A revocation on one node is refused on every other within a second.
        let keyID = try XCTUnwrap(keyReply.keys.first?.id)
        let revoked = ContinuousClock.now
        _ = try await accountCall(.revokeKey(keyID), admin, on: a)
        for other in [b, c] {
            _ = try await timeUntil(.seconds(1)) {
                do {
                    _ = try await self.accountCall(.get(""), key, on: other)
                    return false
                } catch {
                    return (error as? RPCError)?.status == .unauthenticated
                }
            }
        }
        let propagation = ContinuousClock.now - revoked
        XCTAssertLessThan(propagation, .seconds(1))
        print("cluster: a revocation was refused on two other nodes after \(propagation)")

        // A deletion removes the account from every node's copy.
        _ = try await accountCall(.delete(accountID), admin, on: c)
        for other in [a, b] {
            _ = try await timeUntil(.seconds(1)) {
                (try? await self.accountCall(.get(accountID), admin, on: other)) == nil
            }
        }
        for client in clients { await client.close() }
        let counted = try database.psql("SELECT count(*) FROM pellet_accounts")
        XCTAssertEqual(counted.trimmingCharacters(in: .whitespacesAndNewlines), "0")
    }

    func testANodeCatchesUpAfterBeingDownAndADatabaseOutageStopsOnlyAccountChanges() async throws {
        let database = try PostgresTestServer()
        let first = try startNode(database)
        defer { _ = try? first.stop() }
        let secondDirectory = try TemporaryDirectory(prefix: "cluster-node")
        var second = try startNode(database, dataDirectory: secondDirectory.path)
        let a = try await client(first)

        // Changes made while the second node is down reach it when it starts again, before it
        // says ready.
        try second.stop()
        let created = try await accountCall(.create(Account(name: "Grace", email: "grace@example.com")), admin, on: a)
        let accountID = try XCTUnwrap(created.account?.id)
        let key = Credentials(
            apiKey: try await accountCall(.createKey(CreateKey(accountId: accountID, name: "k")), admin, on: a).apiKey)
        second = try startNode(database, dataDirectory: secondDirectory.path)
        defer { _ = try? second.stop() }
        let b = try await client(second)
        let caughtUp = try await accountCall(.get(""), key, on: b)
        XCTAssertEqual(caughtUp.account?.id, accountID)

        // The database goes away (a crash): keys still authenticate from each node's copy;
        // account changes are refused with UNAVAILABLE and a reason.
        try database.stop(immediately: true)
        for node in [a, b] {
            let own = try await accountCall(.get(""), key, on: node)
            XCTAssertEqual(own.account?.id, accountID, "a key authenticates from the node's copy")
        }
        do {
            _ = try await accountCall(.create(Account(name: "Lin", email: "lin@example.com")), admin, on: a)
            XCTFail("an account was created with the database down")
        } catch let error as RPCError {
            XCTAssertEqual(error.status, .unavailable)
            XCTAssertTrue(error.message.hasPrefix("the cluster database cannot be reached"), error.message)
        }

        // It returns: changes work again and reach the other node through its reconnected feed.
        try database.start()
        var linKey = ""
        _ = try await timeUntil(.seconds(40)) {
            guard
                let lin = try? await self.accountCall(
                    .create(Account(name: "Lin", email: "lin@example.com")), self.admin, on: a),
                let id = lin.account?.id
            else { return false }
            let key = try? await self.accountCall(.createKey(CreateKey(accountId: id, name: "k")), self.admin, on: a)
            linKey = key?.apiKey ?? ""
            return true
        }
        _ = try await timeUntil(.seconds(40)) {
            (try? await self.accountCall(.get(""), Credentials(apiKey: linKey), on: b)) != nil
        }
        await a.close()
        await b.close()
        let log = try second.stop().stderr
        XCTAssertTrue(log.contains("cluster database unreachable"), log)
        XCTAssertTrue(log.contains("cluster change feed connected again"), log)
    }
}
