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
}
