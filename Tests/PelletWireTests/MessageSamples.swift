import PelletWire

/// Values for every message of the schema. `full` sets every field to a non-default value
/// (checked by `testFullSamplesSetEveryField`); the other samples cover edge cases: empty,
/// present-but-empty nested messages, empty strings inside repeated fields, extreme numbers.
enum Samples {
    static let unicode = "héllo wörld — 你好, мир, مرحبا 🚀 👩‍👩‍👧 e\u{301} \u{FFFD} \u{10FFFF}"
    static let longText = String(repeating: "token ", count: 20_000)

    static let credentials = Credentials(
        apiKey: "plt_3xAmPlEkEy0123456789abcdef",
        adminToken: "admin-\(unicode)"
    )
    static let error = ErrorPayload(code: 8, message: "monthly budget reached: \(unicode)", retryAfterMs: .max)
    static let chatMessage = ChatMessage(role: "user", content: unicode)
    static let chatMessages = [
        ChatMessage(role: "system", content: "Answer in one word."),
        chatMessage,
        ChatMessage(role: "assistant", content: ""),
        ChatMessage(),
        ChatMessage(role: "user", content: longText),
    ]

    static let candidate = RouteCandidate(model: "gpt-oss-20b", provider: "groq", estCostMicroUsd: .max)
    static let decision = RouteDecision(
        taskType: "code",
        confidence: 0.87,
        model: "kimi-k2.7-code",
        provider: "together",
        estCostMicroUsd: 1_234,
        fallbacks: [
            candidate, RouteCandidate(), RouteCandidate(model: "m", provider: "fireworks", estCostMicroUsd: 1),
        ],
        reason: "a code task; the cheapest model above the quality floor (\(unicode))",
        policyVersion: "c0ffee12",
        difficulty: 0.625
    )
    static let routeRequest = RouteRequest(
        credentials: credentials,
        messages: chatMessages,
        model: "auto",
        preference: .latency,
        maxTokens: .max,
        taskHint: "math",
        providers: ["together", "", "groq", unicode]
    )
    static let routeResponse = RouteResponse(decision: decision)

    static let completeRequest = CompleteRequest(
        credentials: credentials,
        messages: chatMessages,
        model: "glm-5.3",
        preference: .quality,
        maxTokens: 4_096,
        temperature: 0.7,
        topP: -Float.greatestFiniteMagnitude,
        stop: ["\n\n", "", "END", unicode],
        taskHint: "qa",
        providers: ["fireworks"]
    )
    static let completeChunk = CompleteChunk(delta: unicode)
    static let tokenUsage = TokenUsage(promptTokens: .max, completionTokens: 1, cachedPromptTokens: .max - 1)
    static let completeResponse = CompleteResponse(
        requestId: "req_01HZX",
        content: longText,
        finishReason: "length",
        usage: tokenUsage,
        costMicroUsd: .max,
        route: decision,
        model: "glm-5.3",
        provider: "fireworks",
        latencyMs: .max,
        attempts: 3
    )

    static let usageRequest = UsageRequest(
        credentials: credentials,
        accountId: "acc_7",
        fromDay: 19_000,
        toDay: .max,
        groupBy: UsageGroup.allCases + [.day, .key, .day],
        listRequests: true,
        cursor: "opaque/\(unicode)",
        limit: 1_000
    )
    static let usageTotals = UsageTotals(
        requests: .max,
        promptTokens: .max - 1,
        completionTokens: 1 << 63,
        costMicroUsd: 1 << 35,
        errors: 1,
        latencyMsSum: 127,
        cachedPromptTokens: 1 << 40
    )
    static let usageRow = UsageRow(
        day: 20_000,
        model: "gemma-2-9b",
        provider: "groq",
        taskType: "summarization",
        keyId: "key_9",
        totals: usageTotals
    )
    static let requestRecord = RequestRecord(
        requestId: "req_1",
        unixMs: .max,
        keyId: "key_1",
        taskType: "translation",
        model: "m",
        provider: "together",
        usage: tokenUsage,
        costMicroUsd: 42,
        latencyMs: 128,
        status: 16,
        attempts: 2,
        timeToFirstTokenMs: .max,
        tokensEstimated: true
    )
    static let usageResponse = UsageResponse(
        totals: usageTotals,
        rows: [usageRow, UsageRow(), UsageRow(totals: UsageTotals())],
        requests: [requestRecord, RequestRecord(), requestRecord],
        nextCursor: "next"
    )

    static let account = Account(
        id: "acc_01",
        name: "Zoë Ünïcödé 山田",
        email: "zoe@example.com",
        avatarUrl: "https://example.com/a.png?size=64&x=é",
        oauthProvider: "github",
        oauthSubject: "1234567",
        plan: "enterprise",
        subscriptionStatus: "past_due",
        monthlyBudgetMicroUsd: .max,
        rateLimitRpm: .max,
        createdUnixMs: 1_700_000_000_000
    )
    static let apiKey = ApiKey(
        id: "key_01",
        accountId: "acc_01",
        name: "production",
        prefix: "plt_3xAmPlEk",
        createdUnixMs: 1,
        lastUsedUnixMs: .max,
        revokedUnixMs: 1_700_000_000_000
    )
    static let createKey = CreateKey(accountId: "acc_01", name: unicode)
    static let listAccounts = ListAccounts(cursor: "c", limit: .max)

    /// Every case of the `op` oneof, with empty and non-empty values: an empty string or an
    /// empty message is still a chosen case and must come back as that case, not as nil.
    static let accountOps: [AccountRequest.Op] = [
        .create(account), .create(Account()),
        .get(""), .get("acc_01"),
        .getByEmail(""), .getByEmail("zoe@example.com"),
        .update(account), .update(Account(name: "only the name")), .update(Account()),
        .delete(""), .delete("acc_01"),
        .createKey(createKey), .createKey(CreateKey()),
        .revokeKey(""), .revokeKey("key_01"),
        .listKeys(""), .listKeys("acc_01"),
        .list(listAccounts), .list(ListAccounts()),
        .export(""), .export(unicode),
        .compact(CompactStore()),
        .reloadCatalogue(ReloadCatalogue()),
        .exportAccount(exportAccount), .exportAccount(ExportAccount()),
    ]
    static let exportAccount = ExportAccount(accountId: "acc_01", cursor: "AXJlcXVlc3RfcmVjb3JkcwA\(unicode)", limit: .max)
    static let accountRequest = AccountRequest(credentials: credentials, op: .get(""))
    static let accountResponse = AccountResponse(
        account: account,
        accounts: [account, Account(), Account(email: "b@example.com")],
        keys: [apiKey, ApiKey()],
        apiKey: "plt_newkey",
        nextCursor: "n",
        exportJson: Array("{\"id\":\"acc_01\",\"name\":\"\(unicode)\"}".utf8) + [0x00, 0xFF, 0x80, 0x00],
        compaction: compactionReport,
        catalogueReload: catalogueReload
    )
    static let catalogueReload = CatalogueReload(
        previousPolicyVersion: "p1-0123456789abcdef", policyVersion: "p1-fedcba9876543210", models: .max,
        providers: ["fireworks", "groq", "local-vllm", unicode], enabledProviders: ["local-vllm", ""])
    static let compactionReport = CompactionReport(bytesBefore: .max, bytesAfter: 4_096, durationMs: 12)

    static let healthRequest = HealthRequest(credentials: credentials)
    static let providerHealth = ProviderHealth(name: "groq", state: "degraded", errorRate: 0.25, latencyP50Ms: 300)
    static let healthResponse = HealthResponse(
        version: "0.1.0",
        uptimeMs: .max,
        inFlight: 1,
        providers: [
            providerHealth,
            ProviderHealth(name: "together", state: "healthy", errorRate: .leastNonzeroMagnitude, latencyP50Ms: 0),
            ProviderHealth(name: "fireworks", state: "open", errorRate: .infinity, latencyP50Ms: 1),
            ProviderHealth(),
        ],
        gatewayOverheadP50Us: 84,
        gatewayOverheadP99Us: .max,
        gatewayOverheadCalls: 1_200,
        storeMapUsedBytes: 1 << 20,
        storeMapSizeBytes: .max,
        completeRefused: "the store is full: \(unicode)",
        connections: .max,
        models: [
            ModelAvailability(model: "gpt-oss-120b", provider: "groq", state: "available", sinceUnixMs: 1),
            ModelAvailability(model: unicode, provider: "together", state: "unavailable", sinceUnixMs: .max),
            ModelAvailability(),
        ],
        cluster: ClusterHealth(databaseConnected: true, appliedSequence: .max, outboxEvents: 12)
    )
}

/// One message type of the schema, with what the generic tests need to drive it.
struct MessageKind: Sendable {
    /// The name in pellet.proto.
    let protoName: String
    let samples: [any WireMessage]
    /// The sample with every field set.
    let full: any WireMessage
    let decode: @Sendable (UnsafeRawBufferPointer) throws(MessageDecodingError) -> any WireMessage
    let decodeBytes: @Sendable ([UInt8]) throws(MessageDecodingError) -> any WireMessage
    let encode: @Sendable (any WireMessage) -> [UInt8]
    let isEqual: @Sendable (any WireMessage, any WireMessage) -> Bool

    init<M: WireMessage>(_ type: M.Type, proto protoName: String, full: M, more: [M] = []) {
        self.protoName = protoName
        self.full = full
        self.samples = [M(), full] + more
        self.decode = { bytes throws(MessageDecodingError) in try M(decoding: bytes) }
        self.decodeBytes = { bytes throws(MessageDecodingError) in try M(decoding: bytes) }
        self.encode = { ($0 as! M).encodedBytes() }
        self.isEqual = { ($0 as? M) == ($1 as? M) }
    }
}

/// Every message of pellet.proto (checked against the .proto by `testCatalogueCoversTheSchema`).
let messageCatalogue: [MessageKind] = [
    MessageKind(Credentials.self, proto: "Credentials", full: Samples.credentials, more: [Credentials(apiKey: "k")]),
    MessageKind(ErrorPayload.self, proto: "Error", full: Samples.error, more: [RPCError(.unimplemented, "no").payload]),
    MessageKind(ChatMessage.self, proto: "ChatMessage", full: Samples.chatMessage, more: Samples.chatMessages),
    MessageKind(
        RouteRequest.self,
        proto: "RouteRequest",
        full: Samples.routeRequest,
        more: Preference.allCases.map { RouteRequest(credentials: Credentials(), preference: $0) }
    ),
    MessageKind(RouteCandidate.self, proto: "RouteCandidate", full: Samples.candidate),
    MessageKind(
        RouteDecision.self,
        proto: "RouteDecision",
        full: Samples.decision,
        more: [1, -1, .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude, .ulpOfOne]
            .map { RouteDecision(confidence: $0) }
    ),
    MessageKind(
        RouteResponse.self,
        proto: "RouteResponse",
        full: Samples.routeResponse,
        more: [RouteResponse(decision: RouteDecision())]
    ),
    MessageKind(
        CompleteRequest.self,
        proto: "CompleteRequest",
        full: Samples.completeRequest,
        more: Preference.allCases.map { CompleteRequest(preference: $0, temperature: 2, topP: 1) }
            // 0 is a value, distinct from unset, and must come back as 0.
            + [CompleteRequest(temperature: 0), CompleteRequest(topP: 0), CompleteRequest(temperature: -0.0, topP: 0)]
    ),
    MessageKind(
        CompleteChunk.self,
        proto: "CompleteChunk",
        full: Samples.completeChunk,
        more: [CompleteChunk(delta: Samples.longText)]
    ),
    MessageKind(TokenUsage.self, proto: "TokenUsage", full: Samples.tokenUsage),
    MessageKind(
        CompleteResponse.self,
        proto: "CompleteResponse",
        full: Samples.completeResponse,
        more: [CompleteResponse(usage: TokenUsage(), route: RouteDecision())]
    ),
    MessageKind(
        UsageRequest.self,
        proto: "UsageRequest",
        full: Samples.usageRequest,
        more: UsageGroup.allCases.map { UsageRequest(groupBy: [$0]) }
    ),
    MessageKind(UsageTotals.self, proto: "UsageTotals", full: Samples.usageTotals),
    MessageKind(UsageRow.self, proto: "UsageRow", full: Samples.usageRow),
    MessageKind(RequestRecord.self, proto: "RequestRecord", full: Samples.requestRecord),
    MessageKind(UsageResponse.self, proto: "UsageResponse", full: Samples.usageResponse),
    MessageKind(Account.self, proto: "Account", full: Samples.account),
    MessageKind(ApiKey.self, proto: "ApiKey", full: Samples.apiKey),
    MessageKind(CreateKey.self, proto: "CreateKey", full: Samples.createKey),
    MessageKind(ListAccounts.self, proto: "ListAccounts", full: Samples.listAccounts),
    MessageKind(
        AccountRequest.self,
        proto: "AccountRequest",
        full: Samples.accountRequest,
        more: Samples.accountOps.flatMap { op in
            [AccountRequest(op: op), AccountRequest(credentials: Samples.credentials, op: op)]
        } + [AccountRequest(credentials: Credentials())]
    ),
    MessageKind(AccountResponse.self, proto: "AccountResponse", full: Samples.accountResponse),
    MessageKind(CompactStore.self, proto: "CompactStore", full: CompactStore()),
    MessageKind(ExportAccount.self, proto: "ExportAccount", full: Samples.exportAccount),
    MessageKind(CompactionReport.self, proto: "CompactionReport", full: Samples.compactionReport),
    MessageKind(ReloadCatalogue.self, proto: "ReloadCatalogue", full: ReloadCatalogue()),
    MessageKind(CatalogueReload.self, proto: "CatalogueReload", full: Samples.catalogueReload),
    MessageKind(
        HealthRequest.self,
        proto: "HealthRequest",
        full: Samples.healthRequest,
        more: [HealthRequest(credentials: Credentials())]
    ),
    MessageKind(ProviderHealth.self, proto: "ProviderHealth", full: Samples.providerHealth),
    MessageKind(
        HealthResponse.self, proto: "HealthResponse", full: Samples.healthResponse,
        more: [HealthResponse(cluster: ClusterHealth())]),
    MessageKind(
        ClusterHealth.self, proto: "ClusterHealth",
        full: ClusterHealth(databaseConnected: true, appliedSequence: 42, outboxEvents: .max)),
    MessageKind(
        ModelAvailability.self, proto: "ModelAvailability",
        full: ModelAvailability(
            model: "glm-5.3", provider: "fireworks", state: "unavailable", sinceUnixMs: .max,
            catalogueInputMicroUsdPerMtok: 150_000, catalogueOutputMicroUsdPerMtok: .max,
            listedInputMicroUsdPerMtok: 1, listedOutputMicroUsdPerMtok: 750_000, priceDiffers: true)),
]
