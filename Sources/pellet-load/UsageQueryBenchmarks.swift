import Foundation
import PelletStore
import PelletWire

/// Reads over a busy account, as the Usage and Account calls run them on the blocking pool:
/// 100,000 request records over 90 days and their daily counters, then Usage queries of each
/// shape and a page of the account's export. (Formerly printed, not asserted, by a test.)
enum UsageQueryBenchmarks {
    static let recordCount = 100_000
    static let names = [
        "usage.totals-30d", "usage.by-model-30d+records", "usage.totals-90d", "usage.by-day-90d",
        "usage.by-all-90d", "usage.records-page-midway", "export.page",
    ]

    static func run(
        names selected: [String],
        directory: String,
        runner: MicroRunner,
        progress: ProgressLog
    ) async throws -> (setup: String, results: [MicroResult]) {
        let now = UInt64(Date().timeIntervalSince1970 * 1_000)
        let store = try Store(
            configuration: StoreConfiguration(dataDirectory: directory, durability: .batched, now: { now }))
        defer { store.close() }
        let metering = try await store.openMetering()
        let account = try await store.createAccount(Account(name: "Busy", email: "busy@example.com"))
        let fillStart = monotonicNanoseconds()
        try await fill(metering, accountID: account.id, now: now)
        let fillSeconds = Double(monotonicNanoseconds() - fillStart) / 1e9
        let setup =
            "usage store: \(MicroReport.grouped(recordCount)) request records over 90 days on one account, "
            + String(format: "recorded in %.2f s", fillSeconds) + " in batches of 5,000"
        progress.say(setup)

        let today = UsageCalendar.day(unixMs: now)
        let ninetyDays = (from: today - 89, to: today)
        // The cursor half way down the records, for the page measured there.
        var midway = ""
        for _ in 0..<(recordCount / 2_000) {
            midway = try metering.usage(
                accountID: account.id, fromDay: ninetyDays.from, toDay: ninetyDays.to, listRequests: true,
                cursor: midway, limit: 1_000
            ).nextCursor
        }
        let queries: [(String, String, () throws -> Any)] = [
            ("usage.totals-30d", "totals of the last 30 days", { try metering.usage(accountID: account.id) }),
            ("usage.by-model-30d+records", "30 days by model, with the first 100 records", {
                try metering.usage(accountID: account.id, groupBy: [.model], listRequests: true)
            }),
            ("usage.totals-90d", "totals of 90 days", {
                try metering.usage(accountID: account.id, fromDay: ninetyDays.from, toDay: ninetyDays.to)
            }),
            ("usage.by-day-90d", "90 days by day", {
                try metering.usage(
                    accountID: account.id, fromDay: ninetyDays.from, toDay: ninetyDays.to, groupBy: [.day])
            }),
            ("usage.by-all-90d", "90 days by day, key, model, provider and task type", {
                try metering.usage(
                    accountID: account.id, fromDay: ninetyDays.from, toDay: ninetyDays.to,
                    groupBy: [.day, .key, .model, .provider, .taskType])
            }),
            ("usage.records-page-midway", "a page of 1,000 records half way down 90 days", {
                try metering.usage(
                    accountID: account.id, fromDay: ninetyDays.from, toDay: ninetyDays.to, listRequests: true,
                    cursor: midway, limit: 1_000)
            }),
            ("export.page", "the first page of the account's export (1,000 rows, JSON)", {
                try store.exportAccountPage(id: account.id, cursor: "", limit: 0)
            }),
        ]
        var results: [MicroResult] = []
        for (name, notes, query) in queries where selected.contains(name) {
            let result = try runner.measure(MicroBenchmark(name, notes: notes) { blackHole(try query()) })
            progress.report(result)
            results.append(result)
        }
        return (setup, results)
    }

    /// Spread evenly over 90 days before `now`, over realistic keys, models, providers and tasks.
    private static func fill(_ metering: Metering, accountID: String, now: UInt64) async throws {
        let keys = ["key_a", "key_b", "key_c"]
        let models = ["llama-3.1-8b", "llama-3.3-70b", "qwen-2.5-coder", "mixtral-8x7b", "deepseek-v3", "gemma-2-9b"]
        let providers = ["together", "fireworks", "groq"]
        let tasks = [
            "code", "math", "reasoning", "extraction", "summarization", "translation", "classification",
            "creative", "qa", "chat",
        ]
        let span = 90 * UsageCalendar.millisecondsPerDay - 1
        for batchStart in stride(from: 0, to: recordCount, by: 5_000) {
            let events = (batchStart..<min(batchStart + 5_000, recordCount)).map { index in
                MeteringEvent(
                    requestID: "req_\(index)",
                    accountID: accountID,
                    keyID: keys[index % keys.count],
                    unixMs: now - span * UInt64(index) / UInt64(recordCount),
                    taskType: tasks[index % tasks.count],
                    model: models[index / 3 % models.count],
                    provider: providers[index / 7 % providers.count],
                    promptTokens: UInt32(10 + index * 37 % 4_000),
                    completionTokens: UInt32(1 + index * 13 % 1_000),
                    costMicroUSD: UInt64(1 + index * 101 % 20_000),
                    latencyMs: UInt32(100 + index * 53 % 5_000),
                    timeToFirstTokenMs: UInt32(50 + index * 29 % 2_000),
                    status: index % 50 == 0 ? 14 : 0,
                    attempts: 1,
                    tokensEstimated: false
                )
            }
            try await metering.record(contentsOf: events)
        }
    }
}
