import Logging
import PelletServer
import PelletStore
import PelletWire
import PostgresNIO

/// The Usage call in cluster mode: answered from the cluster's database, so it counts every
/// node's calls, with the same response a single pelletd gives from its LMDB (the same range
/// rules, totals, rows in the same order, records newest first, the same cursors).
///
/// Days older than this node's retention are not counted (``ClusterHousekeeping`` drops their
/// partitions).
///
/// The database has a call once its node has shipped it: normally within a fraction of a
/// second, later after an outage. While the database is unreachable Usage answers UNAVAILABLE
/// (the node's own LMDB holds only its own calls, which would be a wrong answer, not a partial
/// one).
public final class ClusterUsage: UsageReads {
    private let client: PostgresClient
    private let store: Store
    private let metering: Metering
    private let logger: Logger
    private let databaseTimeout: Duration

    init(client: PostgresClient, store: Store, metering: Metering, logger: Logger, databaseTimeout: Duration = .seconds(5)) {
        self.client = client
        self.store = store
        self.metering = metering
        self.logger = logger
        self.databaseTimeout = databaseTimeout
    }

    public func usage(_ request: UsageRequest, accountID: String) async throws -> UsageResponse {
        let range = try metering.usageRange(fromDay: request.fromDay, toDay: request.toDay)
        let resumeAfter = try Metering.decodeUsageCursor(request.cursor)
        let limit =
            request.limit == 0 ? Metering.defaultRequestLimit : min(Int(request.limit), Metering.maximumRequestLimit)
        guard try store.account(id: accountID) != nil else {
            throw RPCError(.notFound, "no account has id \(accountID)")
        }
        // Nothing older than the retention counts, as on a single node whose retention deleted
        // it: not a partition the housekeeping has yet to drop, nor rows a node with a longer
        // retention shipped. A range wholly before it answers zero, not an error.
        let firstKept = Metering.firstRetainedDay(
            today: UsageCalendar.day(unixMs: store.now), retentionDays: metering.retentionDays)
        let from = Int64(clamping: UsageCalendar.startOfDay(max(range.lowerBound, firstKept)))
        let until = Int64(clamping: UsageCalendar.startOfDay(range.upperBound) + UsageCalendar.millisecondsPerDay)
        let groupBy = Set(request.groupBy)
        let listRequests = request.listRequests
        let (client, logger) = (self.client, self.logger)
        do {
            return try await within(databaseTimeout, orThrow: { [databaseTimeout] in
                RPCError(.unavailable, "the cluster database cannot be reached (no answer within \(databaseTimeout)), so usage cannot be read now")
            }) {
                try await client.withTransaction(logger: logger) { connection in
                    // One snapshot for the totals, rows and page, as the single node's one read.
                    try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                    let groups = try await Self.groups(accountID, from, until, groupBy, connection, logger)
                    var response = UsageResponse(totals: UsageTotals(), rows: [])
                    var totals = UsageTotals()
                    for row in groups { totals.addSaturating(row.totals ?? UsageTotals()) }
                    response.totals = totals
                    response.rows = groupBy.isEmpty ? [] : groups
                    if listRequests {
                        let (records, next) = try await Self.page(
                            accountID, from, until, after: resumeAfter, limit: limit, connection, logger)
                        response.requests = records
                        response.nextCursor = next
                    }
                    return response
                }
            }
        } catch let error as RPCError {
            throw error
        } catch let error as StoreError {
            throw error
        } catch {
            throw Self.callerError(error)
        }
    }

    /// The account's calls in `[from, until)` summed per group (one row when nothing is grouped
    /// by), sorted as the single node sorts its rows: day, then model, provider, task type and
    /// key in byte order (COLLATE "C").
    private static func groups(
        _ accountID: String, _ from: Int64, _ until: Int64, _ groupBy: Set<UsageGroup>,
        _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> [UsageRow] {
        func column(_ group: UsageGroup, _ expression: String, _ empty: String) -> String {
            groupBy.contains(group) ? expression : empty
        }
        let day = column(.day, "unix_ms / \(UsageCalendar.millisecondsPerDay)", "0::bigint")
        let model = column(.model, "model", "''::text")
        let provider = column(.provider, "provider", "''::text")
        let task = column(.taskType, "task_type", "''::text")
        let key = column(.key, "key_id", "''::text")
        let rows = try await connection.query(
            """
            SELECT * FROM (
            SELECT \(unescaped: day) AS g_day, \(unescaped: model) AS g_model, \(unescaped: provider) AS g_provider,
                \(unescaped: task) AS g_task, \(unescaped: key) AS g_key,
                count(*), sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(cost_micro_usd)::bigint,
                count(*) FILTER (WHERE status <> 0), sum(latency_ms)::bigint, sum(cached_prompt_tokens)::bigint
            FROM pellet_requests
            WHERE account_id = \(accountID) AND unix_ms >= \(from) AND unix_ms < \(until)
            GROUP BY 1, 2, 3, 4, 5
            ) AS grouped
            ORDER BY g_day, g_model COLLATE "C", g_provider COLLATE "C", g_task COLLATE "C", g_key COLLATE "C"
            """,
            logger: logger)
        var result: [UsageRow] = []
        for try await row in rows {
            let cells = Array(row)
            let day = try cells[0].decode(Int64.self)
            let (model, provider, task, key) = (
                try cells[1].decode(String.self), try cells[2].decode(String.self), try cells[3].decode(String.self),
                try cells[4].decode(String.self)
            )
            let sums = try (5..<12).map { try cells[$0].decode(Int64.self) }
            result.append(
                UsageRow(
                    day: UInt32(clamping: day), model: model, provider: provider, taskType: task, keyId: key,
                    totals: UsageTotals(
                        requests: UInt64(clamping: sums[0]), promptTokens: UInt64(clamping: sums[1]),
                        completionTokens: UInt64(clamping: sums[2]), costMicroUsd: UInt64(clamping: sums[3]),
                        errors: UInt64(clamping: sums[4]), latencyMsSum: UInt64(clamping: sums[5]),
                        cachedPromptTokens: UInt64(clamping: sums[6]))))
        }
        return result
    }

    /// A page of the account's records in `[from, until)`, newest first and, at one time, by
    /// request id in byte order (the single node's key order), after the record `after` names.
    private static func page(
        _ accountID: String, _ from: Int64, _ until: Int64, after: (unixMs: UInt64, requestID: String)?, limit: Int,
        _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> (records: [RequestRecord], nextCursor: String) {
        let afterTime = after.map { Int64(clamping: $0.unixMs) } ?? Int64.max
        let afterID = after?.requestID ?? ""
        let rows = try await connection.query(
            """
            SELECT request_id, unix_ms, key_id, task_type, model, provider, prompt_tokens, completion_tokens,
                cached_prompt_tokens, tokens_estimated, cost_micro_usd, latency_ms, time_to_first_token_ms, status, attempts
            FROM pellet_requests
            WHERE account_id = \(accountID) AND unix_ms >= \(from) AND unix_ms < \(until)
                AND (unix_ms < \(afterTime) OR (unix_ms = \(afterTime) AND request_id COLLATE "C" > \(afterID)))
            ORDER BY unix_ms DESC, request_id COLLATE "C"
            LIMIT \(limit + 1)
            """,
            logger: logger)
        var records: [RequestRecord] = []
        var more = false
        for try await row in rows {
            // The one row past the page only says there is more (read to the end: the
            // connection goes on to the next statement).
            guard records.count < limit else {
                more = true
                continue
            }
            let cells = Array(row)
            var event = MeteringEvent(
                requestID: try cells[0].decode(String.self), accountID: accountID, keyID: try cells[2].decode(String.self),
                unixMs: UInt64(clamping: try cells[1].decode(Int64.self)), taskType: try cells[3].decode(String.self),
                model: try cells[4].decode(String.self), provider: try cells[5].decode(String.self))
            event.promptTokens = UInt32(clamping: try cells[6].decode(Int64.self))
            event.completionTokens = UInt32(clamping: try cells[7].decode(Int64.self))
            event.cachedPromptTokens = UInt32(clamping: try cells[8].decode(Int64.self))
            event.tokensEstimated = try cells[9].decode(Bool.self)
            event.costMicroUSD = UInt64(clamping: try cells[10].decode(Int64.self))
            event.latencyMs = UInt32(clamping: try cells[11].decode(Int64.self))
            event.timeToFirstTokenMs = UInt32(clamping: try cells[12].decode(Int64.self))
            event.status = UInt32(clamping: try cells[13].decode(Int64.self))
            event.attempts = UInt32(clamping: try cells[14].decode(Int64.self))
            records.append(event.requestRecord)
        }
        let next = more ? (records.last.map { Metering.usageCursor(unixMs: $0.unixMs, requestID: $0.requestId) } ?? "") : ""
        return (records, next)
    }
}

extension ClusterUsage {
    /// A refusal by the database is an internal error (with its message); anything else means
    /// it could not be reached.
    static func callerError(_ error: any Error) -> RPCError {
        if let transaction = error as? PostgresTransactionError,
            let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError
        {
            return callerError(inner)
        }
        if let error = error as? RPCError { return error }
        if let message = (error as? PSQLError)?.serverInfo?[.message] {
            return RPCError(.internal, "the cluster database refused the usage query: \(message)")
        }
        return RPCError(
            .unavailable, "the cluster database cannot be reached, so usage cannot be read now: \(String(reflecting: error))")
    }
}

extension UsageTotals {
    fileprivate mutating func addSaturating(_ other: UsageTotals) {
        func sum(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let (value, overflow) = a.addingReportingOverflow(b)
            return overflow ? .max : value
        }
        requests = sum(requests, other.requests)
        promptTokens = sum(promptTokens, other.promptTokens)
        completionTokens = sum(completionTokens, other.completionTokens)
        costMicroUsd = sum(costMicroUsd, other.costMicroUsd)
        errors = sum(errors, other.errors)
        latencyMsSum = sum(latencyMsSum, other.latencyMsSum)
        cachedPromptTokens = sum(cachedPromptTokens, other.cachedPromptTokens)
    }
}
