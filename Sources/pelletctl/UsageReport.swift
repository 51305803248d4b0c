import Foundation
import PelletWire

/// What `usage` fetched, and its three renderings.
struct UsageReport {
    var accountID: String
    var fromDay: UInt32
    var toDay: UInt32
    var groups: [UsageGroup]
    var listsRequests: Bool
    var totals: UsageTotals
    var rows: [UsageRow]
    var records: [RequestRecord]
    var nextCursor: String

    /// The grouped fields, in the order the server sorts rows by.
    var groupColumns: [UsageGroup] {
        [.day, .model, .provider, .taskType, .key].filter(groups.contains)
    }

    func table() -> String {
        var text = "usage of \(accountID), \(UsageDates.iso(fromDay)) to \(UsageDates.iso(toDay)) (UTC)\n"
        text += "total  " + Self.summary(totals) + "\n"
        if !groups.isEmpty {
            text += "\n"
            if rows.isEmpty {
                text += "no usage to group\n"
            } else {
                let header =
                    groupColumns.map(Self.columnTitle) + [
                        "REQUESTS", "TOKENS IN", "TOKENS OUT", "COST", "ERRORS", "MEAN LATENCY",
                    ]
                let cells = rows.map { row in
                    let totals = row.totals ?? UsageTotals()
                    return groupColumns.map { Self.value(of: $0, in: row) } + [
                        "\(totals.requests)", "\(totals.promptTokens)", "\(totals.completionTokens)",
                        Output.dollars(microUSD: totals.costMicroUsd), "\(totals.errors)", Self.meanLatency(totals),
                    ]
                }
                text += Output.table(header, cells)
            }
        }
        if listsRequests {
            text += "\n"
            if records.isEmpty {
                text += "no request records\n"
            } else {
                let header = [
                    "TIME", "REQUEST", "KEY", "TASK", "MODEL", "PROVIDER", "TOKENS IN", "TOKENS OUT", "COST",
                    "LATENCY", "STATUS", "ATTEMPTS",
                ]
                let cells = records.map { record in
                    [
                        Output.isoTimestamp(unixMs: record.unixMs), record.requestId, Self.dash(record.keyId),
                        Self.dash(record.taskType), Self.dash(record.model), Self.dash(record.provider),
                        "\(record.usage?.promptTokens ?? 0)", "\(record.usage?.completionTokens ?? 0)",
                        Output.dollars(microUSD: record.costMicroUsd), "\(record.latencyMs) ms",
                        Status(wireValue: record.status).name, "\(record.attempts)",
                    ]
                }
                text += Output.table(header, cells)
            }
        }
        return text
    }

    /// "6 requests, 60 tokens in, 120 tokens out, $0.0006, 1 error, mean latency 50.0 ms".
    static func summary(_ totals: UsageTotals) -> String {
        func count(_ value: UInt64, _ noun: String) -> String { "\(value) \(noun)\(value == 1 ? "" : "s")" }
        return [
            count(totals.requests, "request"), "\(totals.promptTokens) tokens in",
            "\(totals.completionTokens) tokens out", Output.dollars(microUSD: totals.costMicroUsd),
            count(totals.errors, "error"), "mean latency \(meanLatency(totals))",
        ].joined(separator: ", ")
    }

    /// One table, as `--format csv` documents.
    func csv() -> String {
        let totalsHeader = [
            "requests", "prompt_tokens", "completion_tokens", "cost_micro_usd", "cost_usd", "errors",
            "latency_ms_sum", "mean_latency_ms",
        ]
        func totalsCells(_ totals: UsageTotals) -> [String] {
            [
                "\(totals.requests)", "\(totals.promptTokens)", "\(totals.completionTokens)",
                "\(totals.costMicroUsd)", String(Output.dollars(microUSD: totals.costMicroUsd).dropFirst()),
                "\(totals.errors)", "\(totals.latencyMsSum)",
                totals.requests == 0 ? "" : Self.meanLatencyNumber(totals),
            ]
        }
        var table: [[String]]
        if listsRequests {
            table = [
                [
                    "time", "unix_ms", "request_id", "key_id", "task_type", "model", "provider", "prompt_tokens",
                    "completion_tokens", "cost_micro_usd", "cost_usd", "latency_ms", "status", "attempts",
                    "time_to_first_token_ms", "tokens_estimated",
                ]
            ]
            table += records.map { record in
                [
                    Output.isoTimestamp(unixMs: record.unixMs), "\(record.unixMs)", record.requestId, record.keyId,
                    record.taskType, record.model, record.provider, "\(record.usage?.promptTokens ?? 0)",
                    "\(record.usage?.completionTokens ?? 0)", "\(record.costMicroUsd)",
                    String(Output.dollars(microUSD: record.costMicroUsd).dropFirst()), "\(record.latencyMs)",
                    "\(record.status)", "\(record.attempts)", "\(record.timeToFirstTokenMs)",
                    "\(record.tokensEstimated)",
                ]
            }
        } else if groups.isEmpty {
            table = [
                ["from", "to"] + totalsHeader, [UsageDates.iso(fromDay), UsageDates.iso(toDay)] + totalsCells(totals),
            ]
        } else {
            table = [groupColumns.map(Self.csvName) + totalsHeader]
            table += rows.map { row in
                groupColumns.map { Self.value(of: $0, in: row) } + totalsCells(row.totals ?? UsageTotals())
            }
        }
        return table.map { $0.map(Self.csvField).joined(separator: ",") + "\n" }.joined()
    }

    private static func columnTitle(_ group: UsageGroup) -> String {
        switch group {
        case .day: "DAY"
        case .model: "MODEL"
        case .provider: "PROVIDER"
        case .taskType: "TASK"
        case .key: "KEY"
        }
    }

    private static func csvName(_ group: UsageGroup) -> String {
        switch group {
        case .day: "date"
        case .model: "model"
        case .provider: "provider"
        case .taskType: "task_type"
        case .key: "key_id"
        }
    }

    private static func value(of group: UsageGroup, in row: UsageRow) -> String {
        switch group {
        case .day: UsageDates.iso(row.day)
        case .model: row.model
        case .provider: row.provider
        case .taskType: row.taskType
        case .key: row.keyId
        }
    }

    /// "50.0 ms", or "n/a" without requests.
    private static func meanLatency(_ totals: UsageTotals) -> String {
        totals.requests == 0 ? "n/a" : meanLatencyNumber(totals) + " ms"
    }

    private static func meanLatencyNumber(_ totals: UsageTotals) -> String {
        Output.oneDecimal(Double(totals.latencyMsSum) / Double(max(totals.requests, 1)))
    }

    /// A table cell for a name the call did not have (a call refused before routing has no model).
    private static func dash(_ text: String) -> String { text.isEmpty ? "-" : text }

    /// RFC 4180 fields (lines end in LF, as Unix tools expect): quoted when it holds a comma, a quote or a line break; quotes doubled.
    private static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// `usage --format json`: the schema's field names; a row has only the fields grouped by.
struct UsageJSON: Encodable {
    struct Totals: Encodable {
        var requests, promptTokens, completionTokens, costMicroUsd, errors, latencyMsSum: UInt64

        init(_ totals: UsageTotals?) {
            let totals = totals ?? UsageTotals()
            requests = totals.requests
            promptTokens = totals.promptTokens
            completionTokens = totals.completionTokens
            costMicroUsd = totals.costMicroUsd
            errors = totals.errors
            latencyMsSum = totals.latencyMsSum
        }

        enum CodingKeys: String, CodingKey {
            case requests, errors
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case costMicroUsd = "cost_micro_usd"
            case latencyMsSum = "latency_ms_sum"
        }
    }

    struct Row: Encodable {
        var day: UInt32?
        var date, model, provider, taskType, keyId: String?
        var totals: Totals

        enum CodingKeys: String, CodingKey {
            case day, date, model, provider, totals
            case taskType = "task_type"
            case keyId = "key_id"
        }
    }

    struct Record: Encodable {
        var requestId: String
        var unixMs: UInt64
        var keyId, taskType, model, provider: String
        var promptTokens, completionTokens: UInt32
        var costMicroUsd: UInt64
        var latencyMs, status, attempts: UInt32
        var timeToFirstTokenMs: UInt32
        var tokensEstimated: Bool

        init(_ record: RequestRecord) {
            requestId = record.requestId
            unixMs = record.unixMs
            keyId = record.keyId
            taskType = record.taskType
            model = record.model
            provider = record.provider
            promptTokens = record.usage?.promptTokens ?? 0
            completionTokens = record.usage?.completionTokens ?? 0
            costMicroUsd = record.costMicroUsd
            latencyMs = record.latencyMs
            status = record.status
            attempts = record.attempts
            timeToFirstTokenMs = record.timeToFirstTokenMs
            tokensEstimated = record.tokensEstimated
        }

        enum CodingKeys: String, CodingKey {
            case model, provider, status, attempts
            case requestId = "request_id"
            case unixMs = "unix_ms"
            case keyId = "key_id"
            case taskType = "task_type"
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case costMicroUsd = "cost_micro_usd"
            case latencyMs = "latency_ms"
            case timeToFirstTokenMs = "time_to_first_token_ms"
            case tokensEstimated = "tokens_estimated"
        }
    }

    var accountId: String
    var from, to: String
    var fromDay, toDay: UInt32
    var groupBy: [String]
    var totals: Totals
    var rows: [Row]
    var requests: [Record]
    var nextCursor: String

    init(_ report: UsageReport) {
        accountId = report.accountID
        from = UsageDates.iso(report.fromDay)
        to = UsageDates.iso(report.toDay)
        fromDay = report.fromDay
        toDay = report.toDay
        groupBy = report.groupColumns.map(UsageDates.name)
        totals = Totals(report.totals)
        let groups = Set(report.groups)
        rows = report.rows.map { row in
            Row(
                day: groups.contains(.day) ? row.day : nil,
                date: groups.contains(.day) ? UsageDates.iso(row.day) : nil,
                model: groups.contains(.model) ? row.model : nil,
                provider: groups.contains(.provider) ? row.provider : nil,
                taskType: groups.contains(.taskType) ? row.taskType : nil,
                keyId: groups.contains(.key) ? row.keyId : nil,
                totals: Totals(row.totals)
            )
        }
        requests = report.records.map(Record.init)
        nextCursor = report.nextCursor
    }

    enum CodingKeys: String, CodingKey {
        case from, to, totals, rows, requests
        case accountId = "account_id"
        case fromDay = "from_day"
        case toDay = "to_day"
        case groupBy = "group_by"
        case nextCursor = "next_cursor"
    }
}
