import Foundation
import PelletClient
import PelletMockProvider
import PelletTesting
import PelletWire
import XCTest

/// Budgets and rate limits shared across cluster nodes: several real pelletd on one real
/// PostgreSQL, each leasing shares of an account's monthly budget and per-minute allowance.
final class ClusterBudgetTests: XCTestCase {
    private let adminToken = "cluster-budget-admin-token-0123456789"
    private var admin: Credentials { Credentials(adminToken: adminToken) }
    private static let messages = [ChatMessage(role: "user", content: "Say hello.")]
    /// Lease expiry of the test nodes: short, so that a killed node's share comes back quickly.
    private let leaseTTLMs = 2_000

    private func startNode(
        _ database: PostgresTestServer, _ mocks: MockProviders, dataDirectory: String? = nil
    ) throws -> PelletdProcess {
        try startClusterNode(
            database, mocks: mocks, adminToken: adminToken, dataDirectory: dataDirectory,
            arguments: ["--cluster-lease-ttl-ms", "\(leaseTTLMs)"])
    }

    /// `count` nodes on a fresh database, each with a client, calling mocks that answer with
    /// `behavior`. Stop it with ``TestCluster/stop()``; the database stops when it is released.
    private func startCluster(_ count: Int, _ behavior: MockBehavior) async throws -> TestCluster {
        let database = try PostgresTestServer()
        let mocks = try await MockProviders.start(behavior)
        let nodes = try (0..<count).map { _ in try startNode(database, mocks) }
        var clients: [PelletClient] = []
        for node in nodes { clients.append(try await client(node)) }
        return TestCluster(database: database, mocks: mocks, nodes: nodes, clients: clients)
    }

    /// Mocks answering 16 completion tokens after `latencyMs`.
    private static func sixteenTokens(latencyMs: Int = 0) -> MockBehavior {
        var behavior = MockBehavior()
        behavior.completionTokens = 16
        behavior.latencyMs = latencyMs
        return behavior
    }

    /// An account (with `budget` and `rpm`) and a key of it that every client's node knows.
    private func makeAccount(
        _ email: String, budget: UInt64 = 0, rpm: UInt32 = 0, clients: [PelletClient]
    ) async throws -> (id: String, key: Credentials) {
        let created = try await clients[0].account(
            AccountRequest(
                credentials: admin,
                op: .create(Account(name: "B", email: email, monthlyBudgetMicroUsd: budget, rateLimitRpm: rpm))))
        let id = try XCTUnwrap(created.account?.id)
        let key = Credentials(
            apiKey: try await clients[0].account(
                AccountRequest(credentials: admin, op: .createKey(CreateKey(accountId: id, name: "k")))
            ).apiKey)
        for client in clients {
            try await waitUntil(.seconds(5), "the key reaches every node") {
                try await client.account(AccountRequest(credentials: key, op: .get(""))).account?.id == id
            }
        }
        return (id, key)
    }

    private static func complete(_ client: PelletClient, _ key: Credentials) async -> Result<CompleteResponse, RPCError> {
        do {
            return .success(try await client.complete(CompleteRequest(credentials: key, messages: messages, maxTokens: 16)))
        } catch {
            return .failure(error)
        }
    }

    /// A call's worst case, from the refusal of an account whose budget is 1 micro-USD: "this
    /// call may cost up to $0.000123".
    private func worstCase(_ clients: [PelletClient]) async throws -> UInt64 {
        let probe = try await makeAccount("probe@example.com", budget: 1, clients: clients)
        guard case .failure(let refusal) = await Self.complete(clients[0], probe.key) else {
            XCTFail("a budget of 1 micro-USD admitted a call")
            return 0
        }
        XCTAssertEqual(refusal.status, .resourceExhausted, refusal.message)
        let match = try XCTUnwrap(refusal.message.firstMatch(of: #/may cost up to \$(\d+)\.(\d+)/#), refusal.message)
        let fraction = String(match.2).padding(toLength: 6, withPad: "0", startingAt: 0)
        return UInt64(match.1)! * 1_000_000 + UInt64(fraction)!
    }

    private struct Tally: Sendable {
        var admitted = 0
        var charged: UInt64 = 0
        var refused = 0
        var refusals: [String] = []
    }

    /// `workers` callers per client, each calling until the budget refused it five times in a
    /// row (a refusal that says "soon" is tried again after a pause), or `limit` passed.
    private static func hammer(
        _ clients: [PelletClient], _ key: Credentials, workers: Int, limit: Duration
    ) async -> [Tally] {
        await withTaskGroup(of: (Int, Tally).self) { group in
            for (index, client) in clients.enumerated() {
                for _ in 0..<workers {
                    group.addTask {
                        var tally = Tally()
                        var refusedInARow = 0
                        let deadline = ContinuousClock.now + limit
                        while refusedInARow < 5, ContinuousClock.now < deadline {
                            switch await Self.complete(client, key) {
                            case .success(let answer):
                                tally.admitted += 1
                                tally.charged += answer.costMicroUsd
                                refusedInARow = 0
                            case .failure(let error):
                                tally.refused += 1
                                refusedInARow += 1
                                tally.refusals.append("\(error.status) \(error.message) retry_after_ms=\(error.retryAfterMs)")
                                try? await Task.sleep(for: .milliseconds(error.retryAfterMs <= 1_000 ? 300 : 50))
                            }
                        }
                        return (index, tally)
                    }
                }
            }
            var tallies = Array(repeating: Tally(), count: clients.count)
            for await (index, tally) in group {
                tallies[index].admitted += tally.admitted
                tallies[index].charged += tally.charged
                tallies[index].refused += tally.refused
                tallies[index].refusals += tally.refusals
            }
            return tallies
        }
    }

    func testThreeNodesHammeringOneAccountNeverSpendMoreThanItsBudgetAndCanSpendAlmostAllOfIt() async throws {
        let cluster = try await startCluster(3, Self.sixteenTokens(latencyMs: 5))
        defer { cluster.stop() }
        let (database, _, clients) = (cluster.database, cluster.nodes, cluster.clients)

        let worstCase = try await worstCase(clients)
        XCTAssertGreaterThan(worstCase, 0)
        let budget = worstCase * 40
        let account = try await makeAccount("shared@example.com", budget: budget, clients: clients)
        let tallies = await Self.hammer(clients, account.key, workers: 6, limit: .seconds(60))

        let admitted = tallies.reduce(0) { $0 + $1.admitted }
        let refused = tallies.reduce(0) { $0 + $1.refused }
        let charged = tallies.reduce(0) { $0 + $1.charged }
        print(
            "cluster budget: budget \(budget) micro-USD (worst case of a call \(worstCase)), charged \(charged), "
                + "admitted \(admitted) (per node \(tallies.map(\.admitted))), refused \(refused); last refusal: "
                + (tallies.first?.refusals.last ?? "none"))
        // Every node served some, and each was finally refused by the budget, clearly.
        for (index, tally) in tallies.enumerated() {
            XCTAssertGreaterThan(tally.admitted, 0, "node \(index) admitted nothing")
            let last = try XCTUnwrap(tally.refusals.last, "node \(index) was never refused")
            XCTAssertTrue(last.hasPrefix("\(Status.resourceExhausted) monthly budget of "), last)
        }
        // The bound: never past the budget while every node is connected.
        XCTAssertLessThanOrEqual(charged, budget)
        // And the budget is usable: at most one worst case per node (and one unleased) is left.
        XCTAssertGreaterThanOrEqual(charged, budget - 4 * worstCase)
        // What the database has, once shipped, is what the callers were charged.
        try await waitUntil(.seconds(20), "every call shipped") {
            try self.rows(database, "SELECT count(*) FROM pellet_requests WHERE account_id = '\(account.id)'") == "\(admitted)"
        }
        XCTAssertEqual(
            try rows(database, "SELECT sum(cost_micro_usd) FROM pellet_requests WHERE account_id = '\(account.id)'"),
            "\(charged)")
        // The leases never granted more than the budget.
        let granted = UInt64(try rows(database, "SELECT sum(granted) FROM pellet_budget_leases WHERE account_id = '\(account.id)'")) ?? .max
        XCTAssertLessThanOrEqual(granted, budget)
        for client in clients { await client.close() }
    }

    func testAnAccountsRateLimitHoldsAcrossThreeNodes() async throws {
        let cluster = try await startCluster(3, MockBehavior())
        defer { cluster.stop() }
        let (database, _, clients) = (cluster.database, cluster.nodes, cluster.clients)
        let rpm: UInt32 = 30
        let account = try await makeAccount("rated@example.com", rpm: rpm, clients: clients)
        // The burst stays inside one minute of the database's clock.
        let second = Int(try rows(database, "SELECT extract(second FROM now())::int")) ?? 0
        if second >= 45 { try await Task.sleep(for: .seconds(61 - second)) }

        // 30 calls at each node at once: 90 against a limit of 30 a minute.
        let results = await withTaskGroup(of: Result<CompleteResponse, RPCError>.self) { group in
            for client in clients {
                for _ in 0..<Int(rpm) {
                    group.addTask { await Self.complete(client, account.key) }
                }
            }
            var results: [Result<CompleteResponse, RPCError>] = []
            for await result in group { results.append(result) }
            return results
        }
        var admitted = 0
        for result in results {
            switch result {
            case .success: admitted += 1
            case .failure(let error):
                XCTAssertEqual(error.status, .resourceExhausted, error.message)
                XCTAssertTrue(error.message.hasPrefix("rate limit of 30 requests per minute reached"), error.message)
                XCTAssertGreaterThan(error.retryAfterMs, 0)
            }
        }
        print("cluster rate limit: \(rpm) rpm, \(results.count) calls over 3 nodes at once, \(admitted) admitted")
        // Never more than the limit in a minute; at most a chunk (3 calls) less per node.
        XCTAssertLessThanOrEqual(admitted, Int(rpm))
        XCTAssertGreaterThanOrEqual(admitted, Int(rpm) - 3 * 2)
        XCTAssertEqual(try rows(database, "SELECT sum(taken) FROM pellet_rate_windows WHERE account_id = '\(account.id)'"), "\(rpm)")
        for client in clients { await client.close() }
    }

    func testAStoppedNodeHandsBackItsShareAndAKilledNodesShareIsTakenBackAfterItsLeaseExpires() async throws {
        let cluster = try await startCluster(3, Self.sixteenTokens())
        defer { cluster.stop() }
        let (database, nodes, clients) = (cluster.database, cluster.nodes, cluster.clients)
        let (stopped, killed, survivor) = (nodes[0], nodes[1], nodes[2])

        let worstCase = try await worstCase(clients)
        let budget = worstCase * 50
        let account = try await makeAccount("leases@example.com", budget: budget, clients: clients)
        func lease(_ node: PelletdProcess) throws -> (granted: UInt64, spent: UInt64) {
            let nodeID = try String(contentsOfFile: node.dataDirectory + "/cluster-node-id", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let row = try rows(
                database,
                "SELECT granted, spent FROM pellet_budget_leases WHERE account_id = '\(account.id)' AND node_id = '\(nodeID)'")
            let parts = row.split(separator: "|").compactMap { UInt64($0) }
            return parts.count == 2 ? (parts[0], parts[1]) : (0, 0)
        }

        // One call on each of two nodes: each leases a share bigger than the call.
        guard case .success(let first) = await Self.complete(clients[0], account.key),
            case .success(let second) = await Self.complete(clients[1], account.key)
        else { return XCTFail("the first calls were refused") }
        // The next renewal (every second at most) reports each node's spend.
        try await waitUntil(.seconds(5), "both nodes reported their spend") {
            try lease(stopped).spent == first.costMicroUsd && lease(killed).spent == second.costMicroUsd
        }
        XCTAssertGreaterThan(try lease(stopped).granted, first.costMicroUsd + worstCase)
        XCTAssertGreaterThan(try lease(killed).granted, second.costMicroUsd + worstCase)

        // kill -9: the share stays leased (the dead node cannot hand it back)...
        await clients[1].close()
        killed.subprocess.signal(SIGKILL)
        _ = try? killed.subprocess.waitForExit(timeout: .seconds(5))
        // ...while a graceful stop hands back the unused part at once (well before the 5 s after
        // which an idle share goes back anyway).
        await clients[0].close()
        XCTAssertEqual(try stopped.stop().status, 0)
        XCTAssertEqual(try lease(stopped).granted, first.costMicroUsd)
        XCTAssertGreaterThan(try lease(killed).granted, second.costMicroUsd)
        // Once the killed node's lease expired, the next lease of another node cuts it back to
        // the spend it reported.
        try await Task.sleep(for: .milliseconds(leaseTTLMs + 500))

        // The survivor can now spend all but what the two calls cost.
        let tallies = await Self.hammer([clients[2]], account.key, workers: 3, limit: .seconds(60))
        XCTAssertEqual(try lease(killed).granted, second.costMicroUsd)
        let charged = first.costMicroUsd + second.costMicroUsd + tallies[0].charged
        print(
            "cluster leases: budget \(budget), charged \(charged) (survivor \(tallies[0].charged) in \(tallies[0].admitted) calls), "
                + "refused \(tallies[0].refused)")
        XCTAssertLessThanOrEqual(charged, budget)
        XCTAssertGreaterThanOrEqual(charged, budget - 2 * worstCase)
        let last = try XCTUnwrap(tallies[0].refusals.last)
        XCTAssertTrue(last.contains("monthly budget of"), last)
        await clients[2].close()
        _ = survivor
    }

    func testWithoutTheDatabaseANodeServesFromItsShareUntilItsLeaseExpiresThenRefuses() async throws {
        let database = try PostgresTestServer()
        var behavior = MockBehavior()
        behavior.completionTokens = 16
        let mocks = try await MockProviders.start(behavior)
        defer { mocks.shutdownLater() }
        let node = try startNode(database, mocks)
        defer { _ = try? node.stop() }
        let client = try await client(node)
        let worstCase = try await worstCase([client])
        let budgeted = try await makeAccount("budgeted@example.com", budget: worstCase * 100, clients: [client])
        let rated = try await makeAccount("rated@example.com", rpm: 1_000, clients: [client])
        let free = try await makeAccount("free@example.com", clients: [client])
        // Shares leased: a tenth of the budget, a tenth of the minute's calls.
        for account in [budgeted, rated] {
            guard case .success = await Self.complete(client, account.key) else { return XCTFail("refused") }
        }

        try database.stop(immediately: true)
        let outage = ContinuousClock.now
        // Within the lease, the share the node holds still serves...
        guard case .success = await Self.complete(client, budgeted.key) else {
            return XCTFail("refused within the lease")
        }
        XCTAssertLessThan(ContinuousClock.now - outage, .milliseconds(leaseTTLMs), "the call was slow: the test proves nothing")
        // ...and once the lease expired unrenewed, nothing more (fail closed), with a clear reason.
        try await Task.sleep(for: .milliseconds(leaseTTLMs + 200))
        guard case .failure(let refusal) = await Self.complete(client, budgeted.key) else {
            return XCTFail("a budget was spent past an expired lease")
        }
        XCTAssertEqual(refusal.status, .resourceExhausted, refusal.message)
        XCTAssertTrue(refusal.message.contains("the cluster database cannot be reached for more"), refusal.message)
        XCTAssertGreaterThan(refusal.retryAfterMs, 0)
        // The rate-limited account: its chunk (100 calls) is used up, then UNAVAILABLE.
        var rateRefusal: RPCError?
        for _ in 0..<120 {
            if case .failure(let error) = await Self.complete(client, rated.key) {
                rateRefusal = error
                break
            }
        }
        XCTAssertEqual(rateRefusal?.status, .unavailable, rateRefusal?.message ?? "never refused")
        XCTAssertTrue(
            rateRefusal?.message.hasPrefix("the cluster database cannot be reached to share the account's rate limit") ?? false,
            rateRefusal?.message ?? "")
        // An account with neither is not affected.
        guard case .success = await Self.complete(client, free.key) else { return XCTFail("an unlimited account was refused") }

        // The database returns: the node leases again.
        try database.start()
        try await waitUntil(.seconds(30), "the budget serves again once the database is back") {
            if case .success = await Self.complete(client, budgeted.key) { return true }
            return false
        }
        await client.close()
    }

    func testABudgetChangedOnOneNodeAppliesOnEveryNode() async throws {
        let cluster = try await startCluster(2, Self.sixteenTokens())
        defer { cluster.stop() }
        let clients = cluster.clients
        let worstCase = try await worstCase(clients)
        let account = try await makeAccount("changing@example.com", budget: worstCase * 10, clients: clients)
        func setBudget(_ budget: UInt64) async throws {
            _ = try await clients[0].account(
                AccountRequest(credentials: admin, op: .update(Account(id: account.id, monthlyBudgetMicroUsd: budget))))
            try await waitUntil(.seconds(5), "the second node has the new budget") {
                try await clients[1].account(AccountRequest(credentials: account.key, op: .get(""))).account?
                    .monthlyBudgetMicroUsd == budget
            }
        }

        // Spent to the end on both nodes.
        let first = await Self.hammer(clients, account.key, workers: 2, limit: .seconds(30))
        let spent = first.reduce(0) { $0 + $1.charged }
        XCTAssertLessThanOrEqual(spent, worstCase * 10)
        guard case .failure = await Self.complete(clients[1], account.key) else { return XCTFail("admitted past the budget") }

        // Raised on the first node: the second node leases under the new budget at once.
        try await setBudget(worstCase * 20)
        guard case .success = await Self.complete(clients[1], account.key) else {
            return XCTFail("the raised budget was not usable on the other node")
        }
        let second = await Self.hammer(clients, account.key, workers: 2, limit: .seconds(30))
        let total = spent + second.reduce(0) { $0 + $1.charged }
        XCTAssertLessThanOrEqual(total, worstCase * 20)
        XCTAssertGreaterThanOrEqual(total, worstCase * 20 - 3 * worstCase)

        // Lowered below what is spent: every node refuses, and says the new budget.
        try await setBudget(worstCase * 5)
        for client in clients {
            guard case .failure(let refusal) = await Self.complete(client, account.key) else {
                return XCTFail("admitted past a lowered budget")
            }
            XCTAssertEqual(refusal.status, .resourceExhausted)
            XCTAssertTrue(refusal.message.contains("monthly budget of"), refusal.message)
        }
        print("cluster budget change: \(worstCase * 10) then \(worstCase * 20) micro-USD, charged \(spent) then \(total)")
        for client in clients { await client.close() }
    }
}

/// Nodes on one database, each with a client, calling one set of mocks.
private final class TestCluster {
    let database: PostgresTestServer
    let mocks: MockProviders
    let nodes: [PelletdProcess]
    let clients: [PelletClient]

    init(database: PostgresTestServer, mocks: MockProviders, nodes: [PelletdProcess], clients: [PelletClient]) {
        self.database = database
        self.mocks = mocks
        self.nodes = nodes
        self.clients = clients
    }

    /// Stops the nodes (before the database, so a stopping node can hand its leases back) and
    /// the mocks.
    func stop() {
        for node in nodes { _ = try? node.stop() }
        mocks.shutdownLater()
    }
}
