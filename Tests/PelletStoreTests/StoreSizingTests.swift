import PelletStore
import PelletWire
import XCTest

/// The default map holds the default retention at a high, steady rate: the bytes one Complete
/// call adds to the store (its request record, its share of the daily and monthly counters, and
/// LMDB's pages and branch nodes around them) are measured on realistic events, and the default
/// `--map-size` must hold 90 days at 1,000 calls/s with room to spare.
final class StoreSizingTests: XCTestCase {
    static let callsPerSecond: UInt64 = 1_000
    static let headroom = 1.25

    func testTheDefaultMapHoldsNinetyDaysAtAThousandCallsPerSecond() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = TestClock()
        let store = try Store(
            configuration: StoreConfiguration(
                dataDirectory: directory, mapSizeBytes: 1 << 30, durability: .batched, now: { clock.now }))
        defer { store.close() }
        let metering = try await store.openMetering()

        // Twenty accounts with three keys each, calls spread over them, their models and tasks.
        var accounts: [(id: String, keys: [String])] = []
        for index in 0..<20 {
            let account = try await store.createAccount(Account(name: "Sizing \(index)", email: "size\(index)@example.com"))
            var keys: [String] = []
            for key in 0..<3 { keys.append(try await store.createKey(accountID: account.id, name: "k\(key)").record.id) }
            accounts.append((account.id, keys))
        }
        let models = [
            ("llama-3.3-70b-instruct", "together"), ("llama-3.1-8b-instruct", "groq"),
            ("qwen-2.5-coder-32b-instruct", "fireworks"), ("gpt-oss-120b", "groq"), ("deepseek-v3", "together"),
        ]
        let tasks = ["code", "math", "reasoning", "extraction", "summarization", "chat", "qa"]
        var generator = SystemRandomNumberGenerator()

        let before = try store.mapUsage().usedBytes
        let calls = 40_000
        var recorded = 0
        while recorded < calls {
            let events = (0..<500).map { offset -> MeteringEvent in
                let index = recorded + offset
                let account = accounts[Int.random(in: 0..<accounts.count, using: &generator)]
                let (model, provider) = models[index % models.count]
                return MeteringEvent(
                    requestID: RandomIdentifier.requestID(),
                    accountID: account.id,
                    keyID: account.keys[index % 3],
                    // One call a millisecond: 40 s of traffic at 1,000 calls/s.
                    unixMs: clock.now + UInt64(index),
                    taskType: tasks[index % tasks.count],
                    model: model,
                    provider: provider,
                    promptTokens: UInt32.random(in: 20...4_000, using: &generator),
                    completionTokens: UInt32.random(in: 1...1_024, using: &generator),
                    costMicroUSD: UInt64.random(in: 1...5_000, using: &generator),
                    latencyMs: UInt32.random(in: 100...20_000, using: &generator),
                    timeToFirstTokenMs: UInt32.random(in: 50...2_000, using: &generator),
                    status: index % 50 == 0 ? 14 : 0,
                    attempts: 1,
                    tokensEstimated: false
                )
            }
            try await metering.record(contentsOf: events)
            recorded += events.count
        }
        let bytesPerCall = Double(try store.mapUsage().usedBytes - before) / Double(calls)
        let ninetyDays = Double(Self.callsPerSecond) * 86_400 * Double(Metering.defaultRetentionDays)
        let needed = bytesPerCall * ninetyDays * Self.headroom
        print(
            "store sizing: \(Int(bytesPerCall.rounded())) bytes per call; "
                + "\(Int((bytesPerCall * 1_000_000 / 1_048_576).rounded())) MiB per million calls kept; "
                + "90 days at 1,000 calls/s: \(Int((bytesPerCall * ninetyDays / 1_099_511_627_776).rounded())) TiB")
        XCTAssertGreaterThan(bytesPerCall, 50, "the measurement wrote the records")
        XCTAssertGreaterThanOrEqual(
            Double(StoreConfiguration.defaultMapSizeBytes), needed,
            "the default map (\(StoreConfiguration.defaultMapSizeBytes) bytes) cannot hold 90 days at 1,000 calls/s "
                + "(\(Int(bytesPerCall)) bytes per call)")
    }
}
