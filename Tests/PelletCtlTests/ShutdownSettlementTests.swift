import Foundation
import PelletClient
import PelletMockProvider
import PelletTesting
import PelletWire
import Synchronization
import XCTest

/// Shutdown loses nothing: a real pelletd gets SIGTERM with 50 streams in flight and no grace
/// period. The streams are cut off, each is charged for the text it had sent, and only then does
/// the store close: restarted on the same directory, pelletd lists a request record for every
/// call that started, and the counters agree with the records. The access log has a line for
/// each of them too, naming its account and key.
final class ShutdownSettlementTests: XCTestCase {
    private let adminToken = "shutdown-settlement-admin-token-0123"
    private static let streams = 50

    /// What the streams saw, shared between their tasks.
    private final class Tally: Sendable {
        let started = Atomic<Int>(0)
        let endings = LockedBox<[String]>([])
    }

    func testSIGTERMWithStreamsInFlightRecordsEveryCallThatStarted() async throws {
        // Slow streams: 1,000 pieces at 20 a second, so every one is still going at the signal.
        var behavior = MockBehavior()
        behavior.completionTokens = 1_000
        behavior.tokensPerSecond = 20
        let mocks = try await MockProviders.start(behavior)
        defer { mocks.shutdownLater() }
        let directory = try TemporaryDirectory(prefix: "shutdown-settlement")
        let logDirectory = try TemporaryDirectory(prefix: "shutdown-access-log")
        let accessLogPath = logDirectory.file("access.log")
        let arguments = mocks.arguments + ["--shutdown-grace-ms", "0", "--access-log", accessLogPath]
        let environment = MockProviders.environment(adminToken: adminToken)
        let pelletd = try PelletdProcess.start(
            dataDirectory: directory.path, arguments: arguments, environment: environment)
        let client = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(pelletd.unixPath)))
        let admin = Credentials(adminToken: adminToken)
        let created = try await client.account(
            AccountRequest(credentials: admin, op: .create(Account(name: "Shutdown", email: "shutdown@example.com"))))
        let accountID = try XCTUnwrap(created.account?.id)
        let apiKey = try await client.account(
            AccountRequest(credentials: admin, op: .createKey(CreateKey(accountId: accountID, name: "streams")))
        ).apiKey

        // Fifty streams, each counted once its first text arrived.
        let tally = Tally()
        async let streamsEnded: Void = Self.runStreams(client: client, apiKey: apiKey, tally: tally)
        // Most streams have sent text; the last few may still wait for a connection to the mock
        // (libcurl holds a new transfer back while it learns whether a pending HTTP/1.1
        // connection can multiplex): calls in flight without text, which must be recorded too.
        let deadline = ContinuousClock.now + .seconds(20)
        while tally.started.load(ordering: .relaxed) < Self.streams - 10, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let withText = tally.started.load(ordering: .relaxed)
        XCTAssertGreaterThanOrEqual(withText, Self.streams - 10, "the streams had begun before the signal")

        let stopped = try pelletd.stop()
        XCTAssertEqual(stopped.status, 0, String(stopped.stderr.suffix(2_000)))
        XCTAssertFalse(stopped.stderr.contains("metering is lost"), String(stopped.stderr.suffix(2_000)))
        await streamsEnded
        await client.close()
        XCTAssertEqual(tally.endings.withLock { $0.count }, Self.streams)
        XCTAssertFalse(
            tally.endings.withLock { $0.contains("OK") },
            "a 10 s stream finished within a zero grace period: \(tally.endings.withLock { $0 }) \(stopped.stderr.suffix(3_000))")

        // Every cut-off call has its line, written before pelletd exited, saying whose it was.
        let lines = try String(contentsOfFile: accessLogPath, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
        let completes = lines.filter { $0["method"] as? String == "Complete" }
        XCTAssertEqual(completes.count, Self.streams, "access log lines lost at shutdown")
        XCTAssertFalse(completes.contains { $0["status"] as? String == "OK" })
        XCTAssertTrue(completes.allSatisfy { $0["account_id"] as? String == accountID }, "\(completes.prefix(3))")
        XCTAssertTrue(completes.allSatisfy { !($0["key_id"] as? String ?? "").isEmpty && !($0["request_id"] as? String ?? "").isEmpty })
        XCTAssertEqual(Set(completes.compactMap { $0["request_id"] as? String }).count, Self.streams)

        // Restarted: a record for every call that started, each charged for the text it sent.
        let restarted = try PelletdProcess.start(
            dataDirectory: directory.path, arguments: arguments, environment: environment)
        let again = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(restarted.unixPath)))
        let (records, totals) = try await again.allRequestRecords(accountID: accountID, adminToken: adminToken)
        XCTAssertEqual(records.count, Self.streams, "calls that started without a request record")
        XCTAssertEqual(Set(records.map(\.requestId)).count, records.count)
        for record in records {
            XCTAssertNotEqual(record.status, 0, "a cut-off stream recorded as OK")
        }
        let charged = records.filter { ($0.usage?.completionTokens ?? 0) > 0 }
        XCTAssertGreaterThanOrEqual(charged.count, withText, "streamed text was not charged")
        XCTAssertTrue(charged.allSatisfy(\.tokensEstimated))
        let summed = records.reduce((UInt64(0), UInt64(0))) {
            ($0.0 + UInt64($1.usage?.completionTokens ?? 0), $0.1 + $1.costMicroUsd)
        }
        XCTAssertEqual(totals?.requests, UInt64(Self.streams))
        XCTAssertEqual(totals?.completionTokens, summed.0)
        XCTAssertEqual(totals?.costMicroUsd, summed.1)
        await again.close()
        XCTAssertEqual(try restarted.stop().status, 0)
    }

    private static func runStreams(client: PelletClient, apiKey: String, tally: Tally) async {
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<streams {
                group.addTask { await stream(index, client: client, apiKey: apiKey, tally: tally) }
            }
        }
    }

    /// One long stream; counted in `started` once its first text arrives.
    private static func stream(_ index: Int, client: PelletClient, apiKey: String, tally: Tally) async {
        let request = CompleteRequest(
            credentials: Credentials(apiKey: apiKey),
            messages: [ChatMessage(role: "user", content: "Stream \(index): tell a long story.")],
            model: "gpt-oss-120b",
            maxTokens: 1_000
        )
        var sawText = false
        do {
            for try await event in client.completeStream(request, timeout: .seconds(60)) {
                guard !sawText, case .delta = event else { continue }
                sawText = true
                tally.started.add(1, ordering: .relaxed)
            }
            tally.endings.withLock { $0.append("OK") }
        } catch {
            tally.endings.withLock { $0.append("\(error)") }
        }
    }
}
