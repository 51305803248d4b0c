import PelletWire

/// What one call cost: the metadata the Complete call records when it ends. Never any prompt or
/// completion text.
public struct MeteringEvent: Sendable, Equatable {
    /// Pellet's id for the call (`CompleteResponse.request_id`); unique per account and time.
    public var requestID: String
    public var accountID: String
    /// The API key that made the call.
    public var keyID: String
    /// When the call was made (unix ms); its day and month are the counters it adds to.
    public var unixMs: UInt64
    public var taskType: String
    /// The model and provider that answered (after any fallback).
    public var model: String
    public var provider: String
    public var promptTokens: UInt32
    public var completionTokens: UInt32
    /// Of `promptTokens`, those the provider served from its prompt cache.
    public var cachedPromptTokens: UInt32
    public var costMicroUSD: UInt64
    public var latencyMs: UInt32
    /// 0 for a call that never streamed a token.
    public var timeToFirstTokenMs: UInt32
    /// The call's final status code (0 = OK); anything else counts as an error.
    public var status: UInt32
    public var attempts: UInt32
    /// True when the provider reported no usage and Pellet counted the tokens itself.
    public var tokensEstimated: Bool

    public init(
        requestID: String,
        accountID: String,
        keyID: String,
        unixMs: UInt64,
        taskType: String = "",
        model: String = "",
        provider: String = "",
        promptTokens: UInt32 = 0,
        completionTokens: UInt32 = 0,
        costMicroUSD: UInt64 = 0,
        latencyMs: UInt32 = 0,
        timeToFirstTokenMs: UInt32 = 0,
        status: UInt32 = 0,
        attempts: UInt32 = 1,
        tokensEstimated: Bool = false,
        cachedPromptTokens: UInt32 = 0
    ) {
        self.requestID = requestID
        self.accountID = accountID
        self.keyID = keyID
        self.unixMs = unixMs
        self.taskType = taskType
        self.model = model
        self.provider = provider
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.costMicroUSD = costMicroUSD
        self.latencyMs = latencyMs
        self.timeToFirstTokenMs = timeToFirstTokenMs
        self.status = status
        self.attempts = attempts
        self.tokensEstimated = tokensEstimated
        self.cachedPromptTokens = cachedPromptTokens
    }

    /// The most bytes of a request id, and of a key id, model, provider or task type: together
    /// with the account id they must fit in one LMDB key (511 bytes).
    public static let maximumRequestIDBytes = 128
    public static let maximumFieldBytes = 96

    /// Refuses an event whose strings cannot be stored in keys: empty ids, a NUL (the field
    /// separator), a "/" in the account id (the account separator) or an oversized field.
    func validate() throws {
        guard !accountID.isEmpty, !accountID.utf8.contains(UsageKeys.accountSeparator),
            accountID.utf8.count <= Self.maximumFieldBytes
        else {
            throw StoreError.invalidArgument("a metering event needs a valid account id, not \"\(accountID)\"")
        }
        guard !requestID.isEmpty, requestID.utf8.count <= Self.maximumRequestIDBytes, !requestID.utf8.contains(0)
        else {
            throw StoreError.invalidArgument(
                "a metering event needs a request id of 1 to \(Self.maximumRequestIDBytes) bytes without NUL"
            )
        }
        for (name, value) in [("key id", keyID), ("model", model), ("provider", provider), ("task type", taskType)] {
            guard value.utf8.count <= Self.maximumFieldBytes, !value.utf8.contains(0) else {
                throw StoreError.invalidArgument(
                    "the \(name) of a metering event must be at most \(Self.maximumFieldBytes) bytes without NUL"
                )
            }
        }
    }

    /// The record the Usage call lists.
    public var requestRecord: RequestRecord {
        RequestRecord(
            requestId: requestID,
            unixMs: unixMs,
            keyId: keyID,
            taskType: taskType,
            model: model,
            provider: provider,
            usage: TokenUsage(
                promptTokens: promptTokens, completionTokens: completionTokens, cachedPromptTokens: cachedPromptTokens),
            costMicroUsd: costMicroUSD,
            latencyMs: latencyMs,
            status: status,
            attempts: attempts,
            timeToFirstTokenMs: timeToFirstTokenMs,
            tokensEstimated: tokensEstimated
        )
    }
}

extension UsageTotals {
    /// Adds one call. Saturating: a nonsense cost must not trap the writer thread.
    mutating func add(_ event: MeteringEvent) {
        requests = requests.addingSaturated(1)
        promptTokens = promptTokens.addingSaturated(UInt64(event.promptTokens))
        completionTokens = completionTokens.addingSaturated(UInt64(event.completionTokens))
        costMicroUsd = costMicroUsd.addingSaturated(event.costMicroUSD)
        errors = errors.addingSaturated(event.status == 0 ? 0 : 1)
        latencyMsSum = latencyMsSum.addingSaturated(UInt64(event.latencyMs))
        cachedPromptTokens = cachedPromptTokens.addingSaturated(UInt64(event.cachedPromptTokens))
    }

    mutating func add(_ other: UsageTotals) {
        requests = requests.addingSaturated(other.requests)
        promptTokens = promptTokens.addingSaturated(other.promptTokens)
        completionTokens = completionTokens.addingSaturated(other.completionTokens)
        costMicroUsd = costMicroUsd.addingSaturated(other.costMicroUsd)
        errors = errors.addingSaturated(other.errors)
        latencyMsSum = latencyMsSum.addingSaturated(other.latencyMsSum)
        cachedPromptTokens = cachedPromptTokens.addingSaturated(other.cachedPromptTokens)
    }

    /// The totals' members in an export, with the schema's field names.
    var exportMembers: [String: JSONValue] {
        [
            "requests": .uint(requests),
            "prompt_tokens": .uint(promptTokens),
            "completion_tokens": .uint(completionTokens),
            "cost_micro_usd": .uint(costMicroUsd),
            "errors": .uint(errors),
            "latency_ms_sum": .uint(latencyMsSum),
        ]
    }
}

extension UInt64 {
    func addingSaturated(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }

    func subtractingSaturated(_ other: UInt64) -> UInt64 {
        self > other ? self - other : 0
    }
}
