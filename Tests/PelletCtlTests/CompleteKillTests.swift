import Foundation
import PelletClient
import PelletMockProvider
import PelletTesting
import PelletWire
import XCTest

/// A real pelletd, in its default durability (commit before answering, sync on a short interval)
/// and in `full`, serving Complete calls to three in-process mock providers, is killed with
/// `kill -9` while calls are in flight. Restarted on the same data directory, it
/// lists a request record for every call that was acknowledged (answered OK) before the kill,
/// with the tokens that call was answered with, and serves again.
final class CompleteKillTests: XCTestCase {
    private let adminToken = "complete-kill-admin-token-0123456789"
    /// Concurrent calls, each lane one at a time, all on one connection.
    private static let lanes = 24

    /// What the calling lanes saw, shared between them.
    private struct Ledger {
        /// Request id → the answer's (prompt, completion) tokens, for every acknowledged call.
        var acknowledged: [String: (UInt32, UInt32)] = [:]
        var inFlight = 0
        /// Calls that ended with an error (only expected once pelletd is gone).
        var failures: [String] = []
    }

    private typealias SharedLedger = LockedBox<Ledger>

    func testAcknowledgedCompletionsSurviveKill9InTheDefaultDurability() async throws {
        try await checkAcknowledgedCompletionsSurviveKill9(durabilityArguments: [])
    }

    func testAcknowledgedCompletionsSurviveKill9InFullDurability() async throws {
        try await checkAcknowledgedCompletionsSurviveKill9(durabilityArguments: ["--durability", "full"])
    }

    private func checkAcknowledgedCompletionsSurviveKill9(durabilityArguments: [String]) async throws {
        // A little service time, so that calls are still in flight when the kill comes.
        var behavior = MockBehavior()
        behavior.latencyMs = 20
        behavior.completionTokens = 6
        let mocks = try await MockProviders.start(behavior)
        defer { mocks.shutdownLater() }
        let directory = try TemporaryDirectory(prefix: "complete-kill")
        let arguments = mocks.arguments + durabilityArguments
        let environment = MockProviders.environment(adminToken: adminToken)

        let pelletd = try PelletdProcess.start(
            dataDirectory: directory.path, arguments: arguments, environment: environment)
        let client = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(pelletd.unixPath)))
        let admin = Credentials(adminToken: adminToken)
        let account = try await client.account(
            AccountRequest(credentials: admin, op: .create(Account(name: "Kill Test", email: "kill@example.com"))))
        let accountID = try XCTUnwrap(account.account?.id)
        let apiKey = try await client.account(
            AccountRequest(credentials: admin, op: .createKey(CreateKey(accountId: accountID, name: "kill")))
        ).apiKey
        XCTAssertFalse(apiKey.isEmpty)

        // Every lane calls again as soon as its call ends, alternating unary and streamed calls,
        // until a call fails (pelletd is gone).
        let ledger = SharedLedger(Ledger())
        async let lanesEnded: Void = Self.runLanes(client: client, apiKey: apiKey, ledger: ledger)

        // Kill once a good number of calls were acknowledged, with every lane still calling.
        let started = ContinuousClock.now
        var inFlightAtKill = 0
        while true {
            let (acknowledged, inFlight, failures) = ledger.withLock {
                ($0.acknowledged.count, $0.inFlight, $0.failures)
            }
            guard failures.isEmpty else {
                pelletd.subprocess.signal(SIGKILL)
                await lanesEnded
                return XCTFail("a call failed before the kill: \(failures.prefix(3)) \(pelletd.subprocess.stderr.suffix(2_000))")
            }
            let elapsed = ContinuousClock.now - started
            if inFlight > 0, acknowledged >= 300 || (acknowledged >= 20 && elapsed > .seconds(4)) {
                pelletd.subprocess.signal(SIGKILL)
                inFlightAtKill = inFlight
                break
            }
            guard elapsed < .seconds(30), pelletd.subprocess.isRunning else {
                pelletd.subprocess.signal(SIGKILL)
                await lanesEnded
                return XCTFail("only \(acknowledged) calls acknowledged: \(pelletd.subprocess.stderr.suffix(2_000))")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        let killed = try pelletd.subprocess.waitForExit()
        XCTAssertTrue(killed.wasSignalled && killed.status == SIGKILL, "status \(killed.status)")
        await lanesEnded
        await client.close()
        let (acknowledged, failures) = ledger.withLock { ($0.acknowledged, $0.failures) }
        XCTAssertGreaterThan(inFlightAtKill, 0)
        XCTAssertEqual(failures.count, Self.lanes, "each lane ends with one failed call")

        // Restarted on the crashed directory: every acknowledged call has its record.
        let restarted = try PelletdProcess.start(
            dataDirectory: directory.path, arguments: arguments, environment: environment)
        let again = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(restarted.unixPath)))
        let (records, totals) = try await usage(again, accountID: accountID)
        let stored = Dictionary(records.map { ($0.requestId, $0) }, uniquingKeysWith: { first, _ in first })
        XCTAssertEqual(stored.count, records.count, "no record listed twice")
        let lost = Set(acknowledged.keys).subtracting(stored.keys)
        XCTAssertTrue(lost.isEmpty, "\(lost.count) of \(acknowledged.count) acknowledged calls lost, e.g. \(lost.prefix(5))")
        XCTAssertGreaterThanOrEqual(totals.requests, UInt64(acknowledged.count))
        // Besides them, at most the calls in flight at the kill were committed.
        XCTAssertLessThanOrEqual(records.count, acknowledged.count + Self.lanes)
        XCTAssertEqual(totals.requests, UInt64(records.count), "records and counters agree after the crash")
        for (requestID, (promptTokens, completionTokens)) in acknowledged {
            guard let record = stored[requestID] else { continue }
            XCTAssertEqual(record.status, 0, requestID)
            XCTAssertEqual(record.usage?.promptTokens, promptTokens, requestID)
            XCTAssertEqual(record.usage?.completionTokens, completionTokens, requestID)
        }

        // And it serves again.
        let response = try await again.complete(
            CompleteRequest(
                credentials: Credentials(apiKey: apiKey),
                messages: [ChatMessage(role: "user", content: "Still there?")],
                model: "gpt-oss-120b",
                maxTokens: 16
            ))
        XCTAssertEqual(response.attempts, 1)
        let (_, after) = try await usage(again, accountID: accountID)
        XCTAssertEqual(after.requests, totals.requests + 1)
        await again.close()
        let stopped = try restarted.stop()
        XCTAssertEqual(stopped.status, 0)
    }

    private static func runLanes(client: PelletClient, apiKey: String, ledger: SharedLedger) async {
        await withTaskGroup(of: Void.self) { group in
            for lane in 0..<lanes {
                group.addTask { await call(lane: lane, client: client, apiKey: apiKey, ledger: ledger) }
            }
        }
    }

    /// One lane: calls again as soon as its call ends, alternating unary and streamed calls,
    /// until a call fails.
    private static func call(lane: Int, client: PelletClient, apiKey: String, ledger: SharedLedger) async {
        var index = 0
        while true {
            let request = CompleteRequest(
                credentials: Credentials(apiKey: apiKey),
                messages: [ChatMessage(role: "user", content: "Lane \(lane), call \(index): say hi.")],
                model: "gpt-oss-120b",
                maxTokens: 16
            )
            ledger.withLock { $0.inFlight += 1 }
            let result = index.isMultiple(of: 2) ? await unary(client, request) : await streamed(client, request)
            let stop: Bool
            switch result {
            case .success(let response):
                let tokens = (response.usage?.promptTokens ?? 0, response.usage?.completionTokens ?? 0)
                let requestID = response.requestId
                stop = ledger.withLock {
                    $0.inFlight -= 1
                    $0.acknowledged[requestID] = tokens
                    return false
                }
            case .failure(let error):
                let description = "\(error.status.name): \(error.message)"
                stop = ledger.withLock {
                    $0.inFlight -= 1
                    $0.failures.append(description)
                    return true
                }
            }
            if stop { return }
            index += 1
        }
    }

    private static func unary(_ client: PelletClient, _ request: CompleteRequest) async -> Result<CompleteResponse, RPCError> {
        do {
            return .success(try await client.complete(request, timeout: .seconds(20)))
        } catch {
            return .failure(error)
        }
    }

    private static func streamed(_ client: PelletClient, _ request: CompleteRequest) async -> Result<CompleteResponse, RPCError> {
        do {
            var final: CompleteResponse?
            for try await event in client.completeStream(request, timeout: .seconds(20)) {
                if case .done(let response) = event { final = response }
            }
            guard let final else { return .failure(RPCError(.internal, "a stream ended without its END")) }
            return .success(final)
        } catch {
            return .failure(error)
        }
    }

    /// Every request record of the account (all pages) and the totals.
    private func usage(_ client: PelletClient, accountID: String) async throws -> ([RequestRecord], UsageTotals) {
        let (records, totals) = try await client.allRequestRecords(accountID: accountID, adminToken: adminToken)
        return (records, try XCTUnwrap(totals))
    }
}
