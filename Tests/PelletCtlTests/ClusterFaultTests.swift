import Foundation
import PelletClient
import PelletMockProvider
import PelletTesting
import PelletWire
import XCTest

/// Cluster mode under load when something dies: a node killed with SIGKILL in the middle of its
/// calls, and the PostgreSQL server killed the same way. Real pelletd processes, one real
/// PostgreSQL, the Swift mock providers; every call answered OK must end in `pellet_requests`
/// exactly once.
final class ClusterFaultTests: XCTestCase {
    private let adminToken = "cluster-fault-admin-token-0123456789"
    private var admin: Credentials { Credentials(adminToken: adminToken) }

    private func startNode(
        _ database: PostgresTestServer, _ mocks: MockProviders, dataDirectory: String
    ) throws -> PelletdProcess {
        try startClusterNode(database, mocks: mocks, adminToken: adminToken, dataDirectory: dataDirectory)
    }

    /// Every request id in `pellet_requests`, one entry per row (a duplicate shows twice).
    private func shippedRequestIDs(_ database: PostgresTestServer) throws -> [String] {
        try database.psql("SELECT request_id FROM pellet_requests").split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
    }

    /// An account and key made on `client`, once every other client's node has the key.
    private func makeKey(on client: PelletClient, seenBy others: [PelletClient]) async throws -> Credentials {
        let created = try await client.account(
            AccountRequest(credentials: admin, op: .create(Account(name: "Load", email: "load@example.com"))))
        let accountID = try XCTUnwrap(created.account?.id)
        let key = Credentials(
            apiKey: try await client.account(
                AccountRequest(credentials: admin, op: .createKey(CreateKey(accountId: accountID, name: "load")))
            ).apiKey)
        for other in others {
            try await waitUntil(.seconds(5), "the key reaches every node") {
                try await other.account(AccountRequest(credentials: key, op: .get(""))).account?.id == accountID
            }
        }
        return key
    }

    func testANodeKilledUnderLoadLosesNoAnsweredCallAndShipsNoneTwice() async throws {
        let database = try PostgresTestServer()
        var behavior = MockBehavior()
        behavior.completionTokens = 3
        // Calls take a while at the provider, so the killed node has some in flight.
        behavior.latencyMs = 10
        let mocks = try await MockProviders.start(behavior)
        defer { mocks.shutdownLater() }
        let directories = try (0..<3).map { _ in try TemporaryDirectory(prefix: "cluster-fault-node") }
        var nodes = try directories.map { try startNode(database, mocks, dataDirectory: $0.path) }
        defer { for node in nodes { _ = try? node.stop() } }
        var clients: [PelletClient] = []
        for node in nodes { clients.append(try await client(node)) }
        let key = try await makeKey(on: clients[0], seenBy: Array(clients.dropFirst()))

        // Four callers on each node for four seconds; the third node is killed after 1.5 s
        // and started again on its data directory.
        let load = CompleteLoad(key: key)
        var callers = clients.enumerated().map { index, client in load.start(on: client, node: index, workers: 4) }
        try await Task.sleep(for: .milliseconds(1_500))
        let depthAtKill = try outboxDepth(nodes[2]) ?? -1
        nodes[2].subprocess.signal(SIGKILL)
        let killed = try nodes[2].subprocess.waitForExit()
        XCTAssertTrue(killed.wasSignalled)
        await callers[2].value
        await clients[2].close()
        let answeredBeforeKill = load.answered(node: 2).count
        let cutOff = load.failures(node: 2).count
        nodes[2] = try startNode(database, mocks, dataDirectory: directories[2].path)
        clients[2] = try await client(nodes[2])
        callers[2] = load.start(on: clients[2], node: 2, workers: 4)
        try await Task.sleep(for: .milliseconds(1_500))
        load.stop()
        for caller in callers { await caller.value }
        for client in clients { await client.close() }

        // The survivors answered every call; the killed node cut off at most the calls it had in
        // flight (4 callers) and answered again after its restart.
        XCTAssertEqual(load.failures(node: 0).count + load.failures(node: 1).count, 0, "\(load.failures(node: 0))")
        XCTAssertGreaterThan(answeredBeforeKill, 0)
        XCTAssertLessThanOrEqual(cutOff, 4, "\(load.failures(node: 2))")
        XCTAssertTrue(load.failures(node: 2).allSatisfy { $0.status == .unavailable }, "\(load.failures(node: 2))")
        XCTAssertGreaterThan(load.answered(node: 2).count, answeredBeforeKill, "the restarted node answered calls")
        let answered = Set(load.answered)
        XCTAssertEqual(answered.count, load.answered.count, "request ids are unique")

        // Once shipped: every answered call once; besides them, at most the calls cut off (a
        // call whose event was committed just before the kill, unanswered), each once.
        try await waitUntil(.seconds(40), "every outbox empty and every answered call shipped") {
            try nodes.allSatisfy { try self.outboxDepth($0) == 0 }
                && answered.isSubset(of: try self.shippedRequestIDs(database))
        }
        let shipped = try shippedRequestIDs(database)
        XCTAssertEqual(Set(shipped).count, shipped.count, "a request shipped twice")
        XCTAssertTrue(answered.isSubset(of: Set(shipped)), "\(answered.subtracting(shipped).count) answered calls missing")
        let unanswered = Set(shipped).subtracting(answered)
        XCTAssertLessThanOrEqual(unanswered.count, cutOff, "rows no caller was answered for: \(unanswered)")
        print(
            "cluster fault: \(answered.count) calls answered on 3 nodes, one killed after \(answeredBeforeKill) of its "
                + "answers (outbox \(depthAtKill) just before) with \(cutOff) calls cut off; \(shipped.count) rows "
                + "shipped (\(unanswered.count) of calls cut off)")
    }

    func testPostgreSQLKilledUnderLoadNodesAnswerEveryCallAndShipItOnceItReturns() async throws {
        let database = try PostgresTestServer()
        var behavior = MockBehavior()
        behavior.completionTokens = 3
        behavior.latencyMs = 5
        let mocks = try await MockProviders.start(behavior)
        defer { mocks.shutdownLater() }
        let directories = try (0..<2).map { _ in try TemporaryDirectory(prefix: "cluster-fault-node") }
        let nodes = try directories.map { try startNode(database, mocks, dataDirectory: $0.path) }
        defer { for node in nodes { _ = try? node.stop() } }
        var clients: [PelletClient] = []
        for node in nodes { clients.append(try await client(node)) }
        let key = try await makeKey(on: clients[0], seenBy: [clients[1]])

        let load = CompleteLoad(key: key)
        let callers = clients.enumerated().map { index, client in load.start(on: client, node: index, workers: 4) }
        try await Task.sleep(for: .seconds(1))

        // The database dies under the load: the calls go on, and the events wait in the outboxes.
        try database.kill()
        let answeredAtKill = load.answered.count
        try await Task.sleep(for: .seconds(1))
        let earlyDepths = try nodes.map { try XCTUnwrap(try outboxDepth($0)) }
        try await Task.sleep(for: .seconds(2))
        let lateDepths = try nodes.map { try XCTUnwrap(try outboxDepth($0)) }
        let answeredInOutage = load.answered.count - answeredAtKill
        for (early, late) in zip(earlyDepths, lateDepths) {
            XCTAssertGreaterThan(early, 0)
            XCTAssertGreaterThan(late, early, "the outbox grows while the database is away")
        }
        XCTAssertGreaterThan(answeredInOutage, 0)
        XCTAssertEqual(load.failures(node: 0) + load.failures(node: 1), [], "calls failed during the outage")

        // It comes back (crash recovery on its data directory) while the load goes on.
        try database.start()
        try await Task.sleep(for: .seconds(1))
        load.stop()
        for caller in callers { await caller.value }
        for client in clients { await client.close() }
        XCTAssertEqual(load.failures(node: 0) + load.failures(node: 1), [])

        let answered = load.answered
        try await waitUntil(.seconds(40), "every outbox empty and every answered call shipped") {
            try nodes.allSatisfy { try self.outboxDepth($0) == 0 }
                && Set(answered).isSubset(of: try self.shippedRequestIDs(database))
        }
        let shipped = try shippedRequestIDs(database)
        XCTAssertEqual(shipped.count, answered.count, "as many rows as calls answered")
        XCTAssertEqual(Set(shipped), Set(answered))
        print(
            "cluster fault: \(answered.count) calls answered on 2 nodes, \(answeredInOutage) in 3 s without the "
                + "database (outboxes \(earlyDepths) after 1 s, \(lateDepths) after 3 s); all shipped once after it returned")
    }
}

/// Complete calls kept going by concurrent callers until `stop()`: the request id of every call
/// answered OK, and every failure, by node. A caller stops at its first failure (on a killed
/// node every later call would fail at once).
private final class CompleteLoad: Sendable {
    private struct Ledger {
        var answered: [(node: Int, requestID: String)] = []
        var failures: [(node: Int, error: RPCError)] = []
        var stopped = false
    }

    private let ledger = LockedBox(Ledger())
    private let key: Credentials

    init(key: Credentials) { self.key = key }

    var answered: [String] { ledger.withLock { $0.answered.map(\.requestID) } }

    func answered(node: Int) -> [String] {
        ledger.withLock { $0.answered.filter { $0.node == node }.map(\.requestID) }
    }

    func failures(node: Int) -> [RPCError] {
        ledger.withLock { $0.failures.filter { $0.node == node }.map(\.error) }
    }

    func stop() { ledger.withLock { $0.stopped = true } }

    /// `workers` callers on `client`; the task ends when they all have.
    func start(on client: PelletClient, node: Int, workers: Int) -> Task<Void, Never> {
        let request = CompleteRequest(
            credentials: key, messages: [ChatMessage(role: "user", content: "Say hello.")], maxTokens: 8)
        return Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<workers {
                    group.addTask {
                        while !self.ledger.withLock({ $0.stopped }) {
                            do throws(RPCError) {
                                let answer = try await client.complete(request, timeout: .seconds(10))
                                self.ledger.withLock { $0.answered.append((node, answer.requestId)) }
                            } catch {
                                self.ledger.withLock { $0.failures.append((node, error)) }
                                return
                            }
                        }
                    }
                }
            }
        }
    }
}
