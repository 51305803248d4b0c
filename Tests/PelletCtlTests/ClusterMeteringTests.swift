import Foundation
import PelletClient
import PelletMockProvider
import PelletTesting
import PelletWire
import XCTest

/// Cluster mode's metering: every node commits its events to LMDB and ships them from its
/// outbox to the one real PostgreSQL (a throwaway server in a temp directory), exactly once,
/// through an outage of the database and a batch sent twice.
final class ClusterMeteringTests: XCTestCase {
    private let adminToken = "cluster-metering-admin-token-0123456789"
    private var admin: Credentials { Credentials(adminToken: adminToken) }

    private func startNode(
        _ database: PostgresTestServer, _ mocks: MockProviders, dataDirectory: String? = nil
    ) throws -> PelletdProcess {
        try startClusterNode(database, mocks: mocks, adminToken: adminToken, dataDirectory: dataDirectory)
    }

    func testEveryNodesCallsReachTheDatabaseExactlyOnceThroughAnOutageAndABatchSentTwice() async throws {
        let database = try PostgresTestServer()
        var behavior = MockBehavior()
        behavior.completionTokens = 5
        let mocks = try await MockProviders.start(behavior)
        defer { mocks.shutdownLater() }
        let firstNode = try startNode(database, mocks)
        defer { _ = try? firstNode.stop() }
        let secondDirectory = try TemporaryDirectory(prefix: "cluster-metering-node")
        var secondNode = try startNode(database, mocks, dataDirectory: secondDirectory.path)
        let a = try await client(firstNode)
        let b = try await client(secondNode)

        let created = try await a.account(AccountRequest(credentials: admin, op: .create(Account(name: "Ada", email: "ada@example.com"))))
        let accountID = try XCTUnwrap(created.account?.id)
        let key = Credentials(
            apiKey: try await a.account(
                AccountRequest(credentials: admin, op: .createKey(CreateKey(accountId: accountID, name: "k")))
            ).apiKey)
        try await waitUntil(.seconds(5), "the key reaches the second node") {
            try await b.account(AccountRequest(credentials: key, op: .get(""))).account?.id == accountID
        }
        let messages = [ChatMessage(role: "user", content: "Say hello.")]
        var answers: [CompleteResponse] = []
        func call(_ count: Int) async throws {
            for index in 0..<count {
                let node = index.isMultiple(of: 2) ? a : b
                answers.append(try await node.complete(CompleteRequest(credentials: key, messages: messages, maxTokens: 16)))
            }
        }

        // Ten calls across two nodes: ten rows, with what the calls answered.
        try await call(10)
        try await waitUntil(.seconds(20), "10 rows shipped") {
            try self.rows(database, "SELECT count(*) FROM pellet_requests") == "10"
        }
        let shippedIDs = Set(try rows(database, "SELECT request_id FROM pellet_requests").split(separator: "\n").map(String.init))
        XCTAssertEqual(shippedIDs, Set(answers.map(\.requestId)))
        let first = answers[0]
        XCTAssertEqual(
            try rows(
                database,
                "SELECT account_id, model, provider, prompt_tokens, completion_tokens, cost_micro_usd, status FROM pellet_requests WHERE request_id = '\(first.requestId)'"
            ),
            "\(accountID)|\(first.model)|\(first.provider)|\(first.usage?.promptTokens ?? 0)|5|\(first.costMicroUsd)|0")
        // Today's partition and the ones ahead exist; the rows live in today's.
        XCTAssertGreaterThanOrEqual(
            Int(try rows(database, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'pellet_requests'::regclass")) ?? 0, 3)

        // The database crashes: calls go on, and the events wait in each node's outbox.
        try database.stop(immediately: true)
        try await call(10)
        try await waitUntil(.seconds(5), "the first node's outbox shows its 5 events") {
            try self.outboxDepth(firstNode) == 5
        }
        // The shipper counts the database as gone (a batch unanswered for 2 s) and says so, with
        // the outbox's depth.
        let outageLog = try firstNode.subprocess.waitForStderr(timeout: .seconds(15)) {
            $0.contains("metering events wait in this node's outbox")
        }
        XCTAssertTrue(outageLog.contains("cluster.outbox=5"), outageLog)
        // Usage reads the database: it answers UNAVAILABLE, not one node's part of the truth.
        let refusal = await usageRefusal(a, UsageRequest(credentials: key))
        XCTAssertEqual(refusal?.status, .unavailable)
        XCTAssertTrue(refusal?.message.hasPrefix("the cluster database cannot be reached") ?? false, "\(String(describing: refusal))")
        // The second node stops with its 5 in its outbox; a copy of its data file (outbox
        // included) will send them again after they were shipped.
        await b.close()
        XCTAssertEqual(try secondNode.stop().status, 0)
        let copy = try TemporaryDirectory(prefix: "cluster-metering-copy")
        try FileManager.default.copyItem(atPath: secondDirectory.file("data.mdb"), toPath: copy.file("data.mdb"))

        // The database returns: both outboxes drain; 20 rows, no duplicates.
        try database.start()
        secondNode = try startNode(database, mocks, dataDirectory: secondDirectory.path)
        try await waitUntil(.seconds(40), "20 rows shipped after the outage") {
            try self.rows(database, "SELECT count(*) FROM pellet_requests") == "20"
        }
        try await waitUntil(.seconds(5), "both outboxes empty") {
            try self.outboxDepth(firstNode) == 0 && self.outboxDepth(secondNode) == 0
        }
        XCTAssertEqual(
            Set(try rows(database, "SELECT request_id FROM pellet_requests").split(separator: "\n").map(String.init)),
            Set(answers.map(\.requestId)))
        XCTAssertEqual(
            try rows(database, "SELECT sum(cost_micro_usd) FROM pellet_requests"),
            "\(answers.reduce(0) { $0 + $1.costMicroUsd })")

        // The copy sends its 5 again: the database adds nothing.
        XCTAssertEqual(try secondNode.stop().status, 0)
        let copyNode = try startNode(database, mocks, dataDirectory: copy.path)
        try await waitUntil(.seconds(20), "the copy's outbox empty") { try self.outboxDepth(copyNode) == 0 }
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_requests"), "20")
        let copyLog = try copyNode.stop().stderr
        XCTAssertTrue(copyLog.contains("cluster.skipped=5"), copyLog)

        // Deleting the account deletes its rows in the database.
        _ = try await a.account(AccountRequest(credentials: admin, op: .delete(accountID)))
        XCTAssertEqual(try rows(database, "SELECT count(*) FROM pellet_requests"), "0")
        await a.close()
        let log = try firstNode.stop().stderr
        XCTAssertTrue(log.contains("cluster metering outbox drained after the database returned"), log)
    }

    /// The error the Usage call answers, or nil when it answers.
    private func usageRefusal(_ client: PelletClient, _ request: UsageRequest) async -> RPCError? {
        do {
            _ = try await client.usage(request)
            return nil
        } catch {
            return error
        }
    }

    /// Every page of the Usage call for `request`, from `client`.
    private func usagePages(_ client: PelletClient, _ request: UsageRequest) async throws -> [UsageResponse] {
        var request = request
        var pages: [UsageResponse] = []
        repeat {
            let page = try await client.usage(request)
            pages.append(page)
            request.cursor = page.nextCursor
        } while !request.cursor.isEmpty
        return pages
    }

    func testUsageCountsEveryNodesCallsWithTheResponseASingleNodeGives() async throws {
        let database = try PostgresTestServer()
        var behavior = MockBehavior()
        behavior.completionTokens = 9
        let mocks = try await MockProviders.start(behavior)
        defer { mocks.shutdownLater() }
        let firstDirectory = try TemporaryDirectory(prefix: "cluster-usage-node")
        var firstNode = try startNode(database, mocks, dataDirectory: firstDirectory.path)
        let secondNode = try startNode(database, mocks)
        defer { _ = try? secondNode.stop() }
        let a = try await client(firstNode)
        let b = try await client(secondNode)
        func makeKey(_ email: String) async throws -> (account: String, key: Credentials) {
            let created = try await a.account(AccountRequest(credentials: admin, op: .create(Account(name: "U", email: email))))
            let id = try XCTUnwrap(created.account?.id)
            let key = try await a.account(AccountRequest(credentials: admin, op: .createKey(CreateKey(accountId: id, name: "k"))))
            return (id, Credentials(apiKey: key.apiKey))
        }
        let shared = try await makeKey("shared@example.com")
        let solo = try await makeKey("solo@example.com")
        try await waitUntil(.seconds(5), "the keys reach the second node") {
            try await b.account(AccountRequest(credentials: shared.key, op: .get(""))).account?.id == shared.account
        }
        let prompts = ["Say hello.", "Translate hello into French.", "Write a haiku about rain.", "What is 12 * 7?"]
        var sharedAnswers: [CompleteResponse] = []
        for (index, prompt) in (prompts + prompts).enumerated() {
            let node = index.isMultiple(of: 2) ? a : b
            sharedAnswers.append(
                try await node.complete(
                    CompleteRequest(credentials: shared.key, messages: [ChatMessage(role: "user", content: prompt)], maxTokens: 16)))
        }
        // The solo account calls only the first node, whose LMDB then holds all its calls.
        for prompt in prompts + prompts + prompts {
            _ = try await a.complete(
                CompleteRequest(credentials: solo.key, messages: [ChatMessage(role: "user", content: prompt)], maxTokens: 16))
        }
        try await waitUntil(.seconds(20), "20 rows shipped") {
            try self.rows(database, "SELECT count(*) FROM pellet_requests") == "20"
        }

        // The shared account's usage, asked on either node, counts both nodes' calls.
        for node in [a, b] {
            let usage = try await node.usage(UsageRequest(credentials: shared.key, groupBy: [.provider]))
            XCTAssertEqual(usage.totals?.requests, 8)
            XCTAssertEqual(usage.totals?.completionTokens, 72)
            XCTAssertEqual(usage.totals?.costMicroUsd, sharedAnswers.reduce(0) { $0 + $1.costMicroUsd })
            XCTAssertEqual(usage.rows.reduce(0) { $0 + ($1.totals?.requests ?? 0) }, 8)
        }
        let records = try await usagePages(b, UsageRequest(credentials: shared.key, listRequests: true, limit: 3))
        XCTAssertEqual(records.map(\.requests.count), [3, 3, 2])
        XCTAssertEqual(Set(records.flatMap(\.requests).map(\.requestId)), Set(sharedAnswers.map(\.requestId)))

        // The solo account's usage from the database (asked on the second node) is exactly what
        // the first node answers from its own LMDB when it works alone: totals, rows grouped by
        // everything, and the records page by page with the same cursors.
        let everything: [UsageGroup] = [.day, .model, .provider, .taskType, .key]
        let questions = [
            UsageRequest(credentials: solo.key),
            UsageRequest(credentials: solo.key, groupBy: everything),
            UsageRequest(credentials: solo.key, groupBy: [.day]),
            UsageRequest(credentials: solo.key, groupBy: [.model, .taskType]),
            UsageRequest(credentials: solo.key, listRequests: true, limit: 5),
        ]
        var fromDatabase: [[UsageResponse]] = []
        for question in questions { fromDatabase.append(try await usagePages(b, question)) }
        XCTAssertEqual(fromDatabase[0].first?.totals?.requests, 12)
        await a.close()
        XCTAssertEqual(try firstNode.stop().status, 0)
        firstNode = try PelletdProcess.start(
            dataDirectory: firstDirectory.path, arguments: mocks.arguments + ["--tcp", "off", "--discovery-interval", "off"],
            environment: MockProviders.environment(adminToken: adminToken))
        defer { _ = try? firstNode.stop() }
        let alone = try await client(firstNode)
        for (question, databaseAnswer) in zip(questions, fromDatabase) {
            let localAnswer = try await usagePages(alone, question)
            XCTAssertEqual(localAnswer, databaseAnswer, "\(question)")
        }
        XCTAssertEqual(fromDatabase[4].map(\.requests.count), [5, 5, 2])
        await alone.close()
        await b.close()
    }
}
