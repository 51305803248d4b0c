import Foundation
import PelletClient
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// Metering events acknowledged in `batched` durability (pelletd's default: committed, not yet
/// synced) and in `full` survive `kill -9`, and a real pelletd started on the crashed data
/// directory serves every one of them through the Usage call.
///
/// No call of pelletd records events yet (that is the Complete call's job), so the process
/// killed is a recorder that runs the same store and metering code: this test binary itself,
/// started again to run `testRecorderChild` alone, which records events from 16 concurrent
/// tasks and prints each request id once `record` has returned. When the Complete call lands,
/// the same check belongs on a pelletd killed while it serves completions.
final class MeteringDurabilityTests: XCTestCase {
    private static let recorderDirectoryVariable = "PELLET_METERING_RECORDER_DIR"
    private static let recorderDurabilityVariable = "PELLET_METERING_RECORDER_DURABILITY"
    private let adminToken = "metering-durability-admin-token-0123"

    func testAcknowledgedEventsSurviveKill9AndARestartedPelletdServesThem() async throws {
        try await checkAcknowledgedEventsSurviveKill9(durability: "full")
    }

    func testEventsAcknowledgedInBatchedDurabilitySurviveKill9() async throws {
        try await checkAcknowledgedEventsSurviveKill9(durability: "batched")
    }

    private func checkAcknowledgedEventsSurviveKill9(durability: String) async throws {
        #if !os(Linux)
        throw XCTSkip("re-runs the test executable as the recorder, which is how Linux runs XCTest")
        #else
        let directory = try TemporaryDirectory(prefix: "metering-kill")
        let recorder = try Subprocess(
            URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(),
            ["PelletCtlTests.MeteringDurabilityTests/testRecorderChild"],
            environment: [
                Self.recorderDirectoryVariable: directory.path, Self.recorderDurabilityVariable: durability,
            ]
        )
        // Kill it in full flight: once at least 1,000 events are acknowledged, with 16 more on
        // their way through the writer.
        let deadline = ContinuousClock.now + .seconds(60)
        while Self.acknowledged(in: recorder.stdout).count < 1_000 {
            guard recorder.isRunning, ContinuousClock.now < deadline else {
                XCTFail(
                    "the recorder stopped or stalled: \(recorder.stdout.suffix(2_000)) \(recorder.stderr.suffix(2_000))"
                )
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        recorder.signal(SIGKILL)
        let ended = try recorder.waitForExit()
        XCTAssertTrue(ended.wasSignalled && ended.status == SIGKILL, "status \(ended.status)")
        let accountID = try XCTUnwrap(
            ended.stdoutLines.lazy.compactMap { $0.firstMatch(of: #/^account (acc_\w+)$/#) }.first.map { String($0.1) }
        )
        let acknowledged = Self.acknowledged(in: ended.stdout)
        XCTAssertGreaterThanOrEqual(acknowledged.count, 1_000)

        // Twice: on the crashed directory, then again after pelletd itself is killed.
        for round in 1...2 {
            let pelletd = try PelletdProcess.start(
                dataDirectory: directory.path,
                arguments: ["--durability", durability],
                environment: ["PELLET_ADMIN_TOKEN": adminToken]
            )
            let client = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(pelletd.unixPath)))
            let (records, totals) = try await client.allRequestRecords(accountID: accountID, adminToken: adminToken)
            await client.close()

            let stored = Set(records.map(\.requestId))
            XCTAssertEqual(stored.count, records.count, "round \(round): no record listed twice")
            let lost = acknowledged.subtracting(stored)
            XCTAssertTrue(
                lost.isEmpty,
                "round \(round): \(lost.count) acknowledged events lost, e.g. \(lost.prefix(5))"
            )
            // At most the 16 in flight were committed without their acknowledgement printed.
            XCTAssertLessThanOrEqual(stored.count, acknowledged.count + 16, "round \(round)")
            // Records and counters are written in one transaction: after a crash they still agree.
            XCTAssertEqual(totals?.requests, UInt64(records.count), "round \(round)")
            XCTAssertEqual(totals?.costMicroUsd, records.reduce(0) { $0 + $1.costMicroUsd }, "round \(round)")
            XCTAssertEqual(
                totals?.promptTokens,
                records.reduce(0) { $0 + UInt64($1.usage?.promptTokens ?? 0) },
                "round \(round)"
            )

            if round == 1 {
                pelletd.subprocess.signal(SIGKILL)
                _ = try pelletd.subprocess.waitForExit()
            } else {
                try pelletd.stop()
            }
        }
        #endif
    }

    /// The recorder: runs only when `testAcknowledgedEventsSurviveKill9AndARestartedPelletdServesThem`
    /// starts this executable with the data directory in the environment. Prints
    /// "account ID", then "ack REQUEST_ID" for each event `record` has returned for, until it
    /// is killed (or gives up after a minute).
    func testRecorderChild() async throws {
        guard let directory = ProcessInfo.processInfo.environment[Self.recorderDirectoryVariable] else {
            throw XCTSkip("runs only as the recorder process of the kill -9 test")
        }
        let batched = ProcessInfo.processInfo.environment[Self.recorderDurabilityVariable] == "batched"
        var configuration = StoreConfiguration(dataDirectory: directory, durability: batched ? .batched : .full)
        if let mapSize = PelletdProcess.sanitizerMapSize { configuration.mapSizeBytes = mapSize }
        let store = try Store(configuration: configuration)
        let metering = try await store.openMetering()
        let account = try await store.createAccount(Account(name: "Recorder", email: "recorder@example.com"))
        let output = NSLock()
        let say = { @Sendable (line: String) in
            // One write(2) per line, one line at a time: a kill never leaves half a line.
            output.withLock { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        }
        say("account \(account.id)")
        let stop = ContinuousClock.now + .seconds(60)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<16 {
                group.addTask {
                    var index = 0
                    while ContinuousClock.now < stop {
                        let requestID = "req_\(lane)_\(index)"
                        try await metering.record(
                            MeteringEvent(
                                requestID: requestID,
                                accountID: account.id,
                                keyID: "key_recorder",
                                unixMs: StoreConfiguration.systemClock(),
                                taskType: "chat",
                                model: "llama-3.1-8b",
                                provider: "groq",
                                promptTokens: UInt32(index % 500),
                                completionTokens: 20,
                                costMicroUSD: UInt64(lane * 1_000 + index % 1_000),
                                latencyMs: 100
                            )
                        )
                        say("ack \(requestID)")
                        index += 1
                    }
                }
            }
            try await group.waitForAll()
        }
        store.close()
    }

    /// The request ids of the "ack" lines, leaving out a last line without its newline.
    private static func acknowledged(in output: String) -> Set<String> {
        var ids = Set<String>()
        for line in output.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if let match = line.wholeMatch(of: #/ack (req_\d+_\d+)/#) { ids.insert(String(match.1)) }
        }
        return ids
    }
}
