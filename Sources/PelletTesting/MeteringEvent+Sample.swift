import PelletStore

extension MeteringEvent {
    /// An event with defaults for everything a test does not care about.
    public static func sample(
        _ requestID: String,
        account: String,
        at unixMs: UInt64,
        key: String = "key_a",
        model: String = "llama-3.1-8b",
        provider: String = "groq",
        task: String = "chat",
        prompt: UInt32 = 10,
        completion: UInt32 = 20,
        cost: UInt64 = 100,
        latency: UInt32 = 50,
        status: UInt32 = 0
    ) -> MeteringEvent {
        MeteringEvent(
            requestID: requestID,
            accountID: account,
            keyID: key,
            unixMs: unixMs,
            taskType: task,
            model: model,
            provider: provider,
            promptTokens: prompt,
            completionTokens: completion,
            costMicroUSD: cost,
            latencyMs: latency,
            timeToFirstTokenMs: latency / 2,
            status: status,
            attempts: 1,
            tokensEstimated: false
        )
    }

    /// `count` events within a second either side of the midnights that start `lastDay` and the
    /// two days before it (so on four days), over every field, some failed. The same on every run.
    public static func aroundMidnights(account: String, lastDay: UInt32, count: Int) -> [MeteringEvent] {
        var generator = SeededGenerator(state: 7)
        let keys = ["key_a", "key_b", "key_c"]
        let models = ["llama-3.1-8b", "llama-3.3-70b", "qwen-2.5-coder"]
        let providers = ["fireworks", "groq", "together"]
        let tasks = ["chat", "code", "math", "qa"]
        return (0..<count).map { index in
            let midnight = UsageCalendar.startOfDay(lastDay - 2 + UInt32(index % 3))
            return sample(
                "req_\(index)",
                account: account,
                at: midnight - 1_000 + UInt64.random(in: 0..<2_000, using: &generator),
                key: keys.randomElement(using: &generator)!,
                model: models.randomElement(using: &generator)!,
                provider: providers.randomElement(using: &generator)!,
                task: tasks.randomElement(using: &generator)!,
                prompt: UInt32.random(in: 0..<5_000, using: &generator),
                completion: UInt32.random(in: 0..<2_000, using: &generator),
                cost: UInt64.random(in: 0..<50_000, using: &generator),
                latency: UInt32.random(in: 1..<9_000, using: &generator),
                status: index % 11 == 0 ? 14 : 0
            )
        }
    }
}
