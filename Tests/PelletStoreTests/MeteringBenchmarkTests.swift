import Foundation
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// Figures printed, not asserted: how fast metering events go through the writer, and how long
/// a Usage query takes on a busy account. Small by default so the suite stays quick; set
/// PELLET_BENCHMARKS=1 for the full sizes (100,000 request records, 2 s per throughput run).
final class MeteringBenchmarkTests: StoreTestCase {
    private var fullSize: Bool { ProcessInfo.processInfo.environment["PELLET_BENCHMARKS"] != nil }

    private func benchmarkStore(_ name: String, durability: StoreConfiguration.Durability) throws -> Store {
        let clock = self.clock
        return try Store(
            configuration: StoreConfiguration(
                dataDirectory: directory + "/" + name,
                mapSizeBytes: 4 << 30,
                durability: durability,
                now: { clock.now }
            )
        )
    }

    func testRecordingThroughput() async throws {
        let duration: Duration = fullSize ? .seconds(2) : .milliseconds(300)
        for durability in [StoreConfiguration.Durability.full, .batched] {
            for recorders in [1, 16, 256] {
                let store = try benchmarkStore("\(durability)-\(recorders)", durability: durability)
                defer { store.close() }
                let metering = try await store.openMetering()
                let account = try await makeAccount(store)
                let models = ["llama-3.1-8b", "llama-3.3-70b", "qwen-2.5-coder", "mixtral-8x7b"]
                let commitsBefore = store.commitCount
                let started = ContinuousClock.now
                let deadline = started + duration
                let recorded = try await withThrowingTaskGroup(of: Int.self) { group in
                    for recorder in 0..<recorders {
                        group.addTask {
                            var count = 0
                            while ContinuousClock.now < deadline {
                                try await metering.record(
                                    meteringEvent(
                                        "req_\(recorder)_\(count)",
                                        account: account.id,
                                        model: models[count % models.count],
                                        cost: 120
                                    )
                                )
                                count += 1
                            }
                            return count
                        }
                    }
                    return try await group.reduce(0, +)
                }
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let commits = store.commitCount - commitsBefore
                print(
                    "metering benchmark: \(durability) durability, \(recorders) recorders: "
                        + "\(Int(Double(recorded) / seconds)) events/s (\(recorded) events, \(commits) commits, "
                        + "\(String(format: "%.1f", Double(recorded) / Double(max(commits, 1)))) events per commit)"
                )
            }
        }
    }

    func testUsageQueryLatency() async throws {
        let recordCount = fullSize ? 100_000 : 5_000
        let store = try benchmarkStore("usage", durability: .batched)
        defer { store.close() }
        let metering = try await store.openMetering()
        let account = try await makeAccount(store)
        let keys = ["key_a", "key_b", "key_c"]
        let models = ["llama-3.1-8b", "llama-3.3-70b", "qwen-2.5-coder", "mixtral-8x7b", "deepseek-v3", "gemma-2-9b"]
        let providers = ["together", "fireworks", "groq"]
        let tasks = [
            "code", "math", "reasoning", "extraction", "summarization", "translation", "classification",
            "creative", "qa", "chat",
        ]
        let span = 90 * UsageCalendar.millisecondsPerDay - 1
        var generator = SeededGenerator(state: 7)
        let loadStarted = ContinuousClock.now
        for batchStart in stride(from: 0, to: recordCount, by: 5_000) {
            let events = (batchStart..<min(batchStart + 5_000, recordCount)).map { index in
                meteringEvent(
                    "req_\(index)",
                    account: account.id,
                    at: testEpoch - span * UInt64(index) / UInt64(recordCount),
                    key: keys.randomElement(using: &generator)!,
                    model: models.randomElement(using: &generator)!,
                    provider: providers.randomElement(using: &generator)!,
                    task: tasks.randomElement(using: &generator)!,
                    prompt: UInt32.random(in: 10..<4_000, using: &generator),
                    completion: UInt32.random(in: 1..<1_000, using: &generator),
                    cost: UInt64.random(in: 1..<20_000, using: &generator),
                    latency: UInt32.random(in: 100..<5_000, using: &generator),
                    status: index % 50 == 0 ? 14 : 0
                )
            }
            try await metering.record(contentsOf: events)
        }
        let loaded = ContinuousClock.now - loadStarted
        let counters = try metering.usage(
            accountID: account.id,
            fromDay: testDay - 89,
            toDay: testDay,
            groupBy: [.day, .key, .model, .provider, .taskType]
        ).rows.count
        print("metering benchmark: loaded \(recordCount) request records and \(counters) daily counters in \(loaded)")

        func measure(_ name: String, _ query: () throws -> UsageResponse) rethrows {
            var samples: [Duration] = []
            for _ in 0..<(fullSize ? 15 : 3) {
                let started = ContinuousClock.now
                _ = try query()
                samples.append(ContinuousClock.now - started)
            }
            samples.sort()
            print("metering benchmark: usage query, \(name): median \(samples[samples.count / 2]), best \(samples[0])")
        }
        try measure("totals of the last 30 days") { try metering.usage(accountID: account.id) }
        try measure("30 days by model, with the first 100 records") {
            try metering.usage(accountID: account.id, groupBy: [.model], listRequests: true)
        }
        try measure("totals of 90 days") {
            try metering.usage(accountID: account.id, fromDay: testDay - 89, toDay: testDay)
        }
        try measure("90 days by day") {
            try metering.usage(accountID: account.id, fromDay: testDay - 89, toDay: testDay, groupBy: [.day])
        }
        try measure("90 days by all five groups") {
            try metering.usage(
                accountID: account.id,
                fromDay: testDay - 89,
                toDay: testDay,
                groupBy: [.day, .key, .model, .provider, .taskType]
            )
        }
        var cursor = ""
        for _ in 0..<(recordCount / 2_000) {
            cursor = try metering.usage(
                accountID: account.id,
                fromDay: testDay - 89,
                toDay: testDay,
                listRequests: true,
                cursor: cursor,
                limit: 1_000
            ).nextCursor
        }
        try measure("a page of 1,000 records half way down (90 days)") {
            try metering.usage(
                accountID: account.id,
                fromDay: testDay - 89,
                toDay: testDay,
                listRequests: true,
                cursor: cursor,
                limit: 1_000
            )
        }

        // What a retention batch costs the writer: expire the oldest 30 days.
        clock.advance(by: 30 * UsageCalendar.millisecondsPerDay)
        let commitsBefore = store.commitCount
        let started = ContinuousClock.now
        let deleted = try await metering.enforceRetention()
        let elapsed = ContinuousClock.now - started
        let batches = store.commitCount - commitsBefore
        print(
            "metering benchmark: retention deleted \(deleted) rows in \(batches) transactions, \(elapsed) "
                + "(\(elapsed / max(batches, 1)) per transaction)"
        )
    }
}
