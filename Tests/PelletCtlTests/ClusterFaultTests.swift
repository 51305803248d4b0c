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

    private func startNode(_ cluster: FaultCluster, _ index: Int) throws -> PelletdProcess {
        try startClusterNode(
            cluster.database, mocks: cluster.mocks, adminToken: adminToken,
            dataDirectory: cluster.directories[index].path)
    }

    /// PostgreSQL, the mock providers (3 tokens an answer, after `providerLatencyMs`), `count`
    /// nodes with a client each, and a key that every node knows. The caller stops it.
    private func startCluster(nodes count: Int, providerLatencyMs: Int) async throws -> FaultCluster {
        var behavior = MockBehavior()
        behavior.completionTokens = 3
        behavior.latencyMs = providerLatencyMs
        let directories = try (0..<count).map { _ in try TemporaryDirectory(prefix: "cluster-fault-node") }
        let database = try PostgresTestServer()
        let cluster = FaultCluster(
            database: database, mocks: try await MockProviders.start(behavior), directories: directories)
        do {
            for index in 0..<count {
                cluster.nodes.append(try startNode(cluster, index))
                cluster.clients.append(try await client(cluster.nodes[index]))
            }
            cluster.key = try await makeKey(on: cluster.clients[0], seenBy: Array(cluster.clients.dropFirst()))
            return cluster
        } catch {
            cluster.stop()
            throw error
        }
    }

    /// Every request id in `pellet_requests`, one entry per row (a duplicate shows twice).
    private func shippedRequestIDs(_ database: PostgresTestServer) throws -> [String] {
        try database.psql("SELECT request_id FROM pellet_requests").split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
    }

    /// Waits until every node's outbox is empty and every one of `answered` is in
    /// `pellet_requests`; returns what was shipped, as ``shippedRequestIDs(_:)``.
    ///
    /// The bound is on a stall, not on speed: thousands of rows ship in seconds on a quiet machine
    /// but took over 40 s on a loaded one (a full test run beside builds) while still moving. The
    /// test fails when no row has arrived for 30 s (the shippers' retry backoff is far shorter),
    /// or after 5 minutes in all.
    private func waitUntilShipped(_ answered: Set<String>, by cluster: FaultCluster) async throws -> [String] {
        let start = ContinuousClock.now
        var lastProgress = start
        var shippedCount = -1
        while true {
            let shipped = (try? shippedRequestIDs(cluster.database)) ?? []
            let outboxesEmpty = (try? cluster.nodes.allSatisfy { try self.outboxDepth($0) == 0 }) ?? false
            if outboxesEmpty && answered.isSubset(of: shipped) { return shipped }
            let now = ContinuousClock.now
            if shipped.count > shippedCount {
                shippedCount = shipped.count
                lastProgress = now
            }
            guard now - lastProgress < .seconds(30), now - start < .seconds(300) else {
                XCTFail(
                    "not every outbox emptied and every answered call shipped: \(shipped.count) rows, "
                        + "\(answered.subtracting(shipped).count) answered calls missing, no new row for "
                        + "\(now - lastProgress)")
                return shipped
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// An account and key made on `client`, once every other client's node has the key.
    private func makeKey(on client: PelletClient, seenBy others: [PelletClient]) async throws -> Credentials {
        let created = try await accountCall(
            .create(Account(name: "Load", email: "load@example.com")), admin, on: client)
        let accountID = try XCTUnwrap(created.account?.id)
        let key = Credentials(
            apiKey: try await accountCall(.createKey(CreateKey(accountId: accountID, name: "load")), admin, on: client)
                .apiKey)
        for other in others {
            try await waitUntil(.seconds(5), "the key reaches every node") {
                try await self.accountCall(.get(""), key, on: other).account?.id == accountID
            }
        }
        return key
    }

    func testANodeKilledUnderLoadLosesNoAnsweredCallAndShipsNoneTwice() async throws {
        // Calls take a while at the provider, so the killed node has some in flight.
        let cluster = try await startCluster(nodes: 3, providerLatencyMs: 10)
        defer { cluster.stop() }

        // Four callers on each node for four seconds; the third node is killed after 1.5 s
        // and started again on its data directory.
        let load = CompleteLoad(key: cluster.key)
        var callers = cluster.clients.enumerated().map { index, client in
            load.start(on: client, node: index, workers: 4)
        }
        try await Task.sleep(for: .milliseconds(1_500))
        let depthAtKill = try outboxDepth(cluster.nodes[2]) ?? -1
        cluster.nodes[2].subprocess.signal(SIGKILL)
        let killed = try cluster.nodes[2].subprocess.waitForExit()
        XCTAssertTrue(killed.wasSignalled)
        await callers[2].value
        await cluster.clients[2].close()
        let answeredBeforeKill = load.answered(node: 2).count
        let cutOff = load.failures(node: 2).count
        cluster.nodes[2] = try startNode(cluster, 2)
        cluster.clients[2] = try await client(cluster.nodes[2])
        callers[2] = load.start(on: cluster.clients[2], node: 2, workers: 4)
        try await Task.sleep(for: .milliseconds(1_500))
        await load.stop(waitingFor: callers)
        await cluster.closeClients()

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
        let shipped = try await waitUntilShipped(answered, by: cluster)
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
        let cluster = try await startCluster(nodes: 2, providerLatencyMs: 5)
        defer { cluster.stop() }
        let (database, nodes) = (cluster.database, cluster.nodes)

        let load = CompleteLoad(key: cluster.key)
        let callers = cluster.clients.enumerated().map { index, client in
            load.start(on: client, node: index, workers: 4)
        }
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
        await load.stop(waitingFor: callers)
        await cluster.closeClients()
        XCTAssertEqual(load.failures(node: 0) + load.failures(node: 1), [])

        let answered = load.answered
        let shipped = try await waitUntilShipped(Set(answered), by: cluster)
        XCTAssertEqual(shipped.count, answered.count, "as many rows as calls answered")
        XCTAssertEqual(Set(shipped), Set(answered))
        print(
            "cluster fault: \(answered.count) calls answered on 2 nodes, \(answeredInOutage) in 3 s without the "
                + "database (outboxes \(earlyDepths) after 1 s, \(lateDepths) after 3 s); all shipped once after it returned")
    }
}

/// What a fault test runs on: one PostgreSQL, the mock providers, and pelletd nodes each on a
/// data directory of its own (which outlives a node killed and started again), with a client
/// of each. Only the test's task touches it.
private final class FaultCluster {
    let database: PostgresTestServer
    let mocks: MockProviders
    let directories: [TemporaryDirectory]
    var nodes: [PelletdProcess] = []
    var clients: [PelletClient] = []
    /// A key every node knows.
    var key = Credentials()

    init(database: PostgresTestServer, mocks: MockProviders, directories: [TemporaryDirectory]) {
        self.database = database
        self.mocks = mocks
        self.directories = directories
    }

    func closeClients() async {
        for client in clients { await client.close() }
    }

    /// Stops every node and the mock providers; the database stops with its last reference.
    func stop() {
        for node in nodes { _ = try? node.stop() }
        mocks.shutdownLater()
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

    /// Stops every caller and waits for `callers` (tasks of ``start(on:node:workers:)``) to end.
    func stop(waitingFor callers: [Task<Void, Never>]) async {
        stop()
        for caller in callers { await caller.value }
    }

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
