import ArgumentParser
import Foundation
import PelletClient
import PelletWire

extension PelletCtl {
    struct Usage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an account's usage: totals, grouped rows and request records, by UTC day.",
            discussion: """
                With an API key (--api-key, else $PELLET_API_KEY) it shows the key's own account; \
                with the admin token (--admin-token, $PELLET_ADMIN_TOKEN or <data-dir>/admin.token) \
                it shows the account --account names. An explicit --admin-token is used even when \
                $PELLET_API_KEY is set.

                --format table (the default) prints a totals line, then the grouped rows, then the \
                request records with --requests. --format csv prints one table with a header row: \
                the request records with --requests, else one row per group (one row of totals \
                without --group-by). --format json (or --json) prints one object with the schema's \
                field names. Money in CSV is cost_micro_usd (exact) and cost_usd.
                """
        )

        /// The days shown when neither --from nor --to is given: the server's default too.
        static let defaultDays: UInt32 = 30
        static let maximumLimit = 1_000

        @OptionGroup var options: ConnectionOptions

        @Option(help: ArgumentHelp("The account (acc_...). (default: the API key's own)", valueName: "id"))
        var account: String?

        @Option(help: ArgumentHelp("The first day, in UTC. (default: 29 days before --to)", valueName: "YYYY-MM-DD"))
        var from: String?

        @Option(help: ArgumentHelp("The last day, in UTC, included. (default: today)", valueName: "YYYY-MM-DD"))
        var to: String?

        @Option(
            help: ArgumentHelp(
                "Group the rows by any of day, model, provider, task, key (comma-separated or repeated).",
                valueName: "fields"
            )
        )
        var groupBy: [String] = []

        @Flag(help: "Also list the request records, newest first.")
        var requests = false

        @Option(help: "Request records per call, 1 to \(Self.maximumLimit). (default: the server's, 100)")
        var limit: Int?

        @Option(help: "Start the records after this cursor: the one printed with the previous page.")
        var cursor: String?

        @Flag(help: "Follow the cursor to the last page of request records.")
        var all = false

        @Option(help: "A table to read (the default), or csv or json to export.")
        var format: UsageFormat?

        @Option(
            help: ArgumentHelp(
                "An API key (plt_...). (default: $PELLET_API_KEY, else the admin token)",
                valueName: "key"
            )
        )
        var apiKey: String?

        func validate() throws {
            if let apiKey, !apiKey.isEmpty, let token = options.adminToken, !token.isEmpty {
                throw ValidationError("give --api-key or --admin-token, not both")
            }
            guard let credentials = credentials() else {
                throw ValidationError(
                    "usage needs an API key (--api-key or $PELLET_API_KEY) or the admin token "
                        + "(--admin-token, $PELLET_ADMIN_TOKEN or <data-dir>/admin.token)"
                )
            }
            if account?.isEmpty == true { throw ValidationError("--account may not be empty") }
            if account == nil, credentials.apiKey.isEmpty {
                throw ValidationError("with the admin token, name the account: --account ID")
            }
            _ = try range(today: UsageDates.today())
            _ = try groups()
            if let limit, !(1...Self.maximumLimit).contains(limit) {
                throw ValidationError("--limit must be from 1 to \(Self.maximumLimit), not \(limit)")
            }
            for (option, given) in [("--limit", limit != nil), ("--cursor", cursor != nil), ("--all", all)]
            where given && !requests {
                throw ValidationError("\(option) pages the request records: add --requests")
            }
            if cursor?.isEmpty == true { throw ValidationError("--cursor may not be empty") }
            if options.json, let format, format != .json {
                throw ValidationError("--json and --format \(format.rawValue) disagree; give one")
            }
            if resolvedFormat == .csv, requests, !groupBy.isEmpty {
                throw ValidationError("CSV holds one table: give --group-by or --requests, not both")
            }
        }

        func run() async throws {
            guard let credentials = credentials() else { throw RPCError(.unauthenticated, "no credentials") }
            let (fromDay, toDay) = try range(today: UsageDates.today())
            let groups = try groups()
            let report = try await options.withClient { client throws(RPCError) in
                let accountID: String
                if let account {
                    accountID = account
                } else {
                    // The output names the account, so ask the server which one the key's is.
                    accountID = try await ownAccount(client, credentials)
                }
                var request = UsageRequest(
                    credentials: credentials,
                    accountId: account ?? "",
                    fromDay: fromDay,
                    toDay: toDay,
                    groupBy: groups,
                    listRequests: requests,
                    cursor: cursor ?? "",
                    limit: UInt32(limit ?? (all ? Self.maximumLimit : 0))
                )
                let first = try await client.usage(request, timeout: options.timeout)
                var records = first.requests
                var next = first.nextCursor
                // Later pages need no rows: the first page's are kept.
                request.groupBy = []
                while all, !next.isEmpty {
                    request.cursor = next
                    let page = try await client.usage(request, timeout: options.timeout)
                    records += page.requests
                    next = page.nextCursor
                }
                return UsageReport(
                    accountID: accountID,
                    fromDay: fromDay,
                    toDay: toDay,
                    groups: groups,
                    listsRequests: requests,
                    totals: first.totals ?? UsageTotals(),
                    rows: first.rows,
                    records: records,
                    nextCursor: next
                )
            }
            switch resolvedFormat {
            case .table:
                print(report.table(), terminator: "")
                if !report.nextCursor.isEmpty { print("more: " + nextPageCommand(report)) }
            case .csv:
                print(report.csv(), terminator: "")
                if !report.nextCursor.isEmpty {
                    // Not in the CSV, where it would be read as a row; a partial export must not
                    // pass unnoticed.
                    Output.printError("more: " + nextPageCommand(report) + " (or use --all)")
                }
            case .json:
                try Output.printJSON(UsageJSON(report))
            }
        }

        private var resolvedFormat: UsageFormat { options.json ? .json : format ?? .table }

        /// `--api-key`, `--admin-token`, `$PELLET_API_KEY`, then the admin token from the
        /// environment or the data directory.
        private func credentials() -> Credentials? {
            if let apiKey, !apiKey.isEmpty { return Credentials(apiKey: apiKey) }
            if let token = options.adminToken, !token.isEmpty { return Credentials(adminToken: token) }
            if let key = ProcessInfo.processInfo.environment["PELLET_API_KEY"], !key.isEmpty {
                return Credentials(apiKey: key)
            }
            return options.resolvedAdminToken().map { Credentials(adminToken: $0) }
        }

        private func ownAccount(_ client: PelletClient, _ credentials: Credentials) async throws(RPCError) -> String {
            let response = try await client.account(
                AccountRequest(credentials: credentials, op: .get("")),
                timeout: options.timeout
            )
            return try response.requireAccount().id
        }

        /// The days asked for, filling in the defaults from `today`, so that the output can say
        /// exactly which days it covers.
        private func range(today: UInt32) throws -> (from: UInt32, to: UInt32) {
            let toDay = try to.map { try UsageDates.day($0, option: "--to") } ?? today
            let fromDay =
                try from.map { try UsageDates.day($0, option: "--from") }
                ?? (toDay >= Self.defaultDays - 1 ? toDay - (Self.defaultDays - 1) : 0)
            guard fromDay <= toDay else {
                throw ValidationError(
                    "--from \(UsageDates.iso(fromDay)) is after --to \(UsageDates.iso(toDay))"
                        + (to == nil ? " (today)" : "")
                )
            }
            return (fromDay, toDay)
        }

        private func groups() throws -> [UsageGroup] {
            var groups: [UsageGroup] = []
            for name in groupBy.flatMap({ $0.split(separator: ",") }) {
                let trimmed = name.trimmingCharacters(in: .whitespaces).lowercased()
                guard let group = UsageDates.groupNames[trimmed] else {
                    throw ValidationError(
                        "--group-by takes day, model, provider, task and key, not \"\(trimmed)\""
                    )
                }
                if !groups.contains(group) { groups.append(group) }
            }
            return groups
        }

        /// The command that shows the next page: the same days (resolved, so that a page read
        /// after midnight still continues the same range), account, groups and page size.
        private func nextPageCommand(_ report: UsageReport) -> String {
            var words = ["pelletctl", "usage"]
            if let account { words += ["--account", account] }
            words += ["--from", UsageDates.iso(report.fromDay), "--to", UsageDates.iso(report.toDay)]
            if !report.groups.isEmpty {
                words += ["--group-by", report.groups.map(UsageDates.name).joined(separator: ",")]
            }
            words.append("--requests")
            if let limit { words += ["--limit", "\(limit)"] }
            if let format { words += ["--format", format.rawValue] }
            words += ["--cursor", report.nextCursor]
            return words.joined(separator: " ")
        }
    }
}

enum UsageFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// Days since 1970-01-01 UTC (the schema's `day`) and their "YYYY-MM-DD" names.
enum UsageDates {
    static let groupNames: [String: UsageGroup] = [
        "day": .day, "model": .model, "provider": .provider, "task": .taskType, "task_type": .taskType,
        "key": .key, "key_id": .key,
    ]

    static func name(_ group: UsageGroup) -> String {
        switch group {
        case .day: "day"
        case .model: "model"
        case .provider: "provider"
        case .taskType: "task"
        case .key: "key"
        }
    }

    static func today() -> UInt32 {
        UInt32(clamping: time(nil) / 86_400)
    }

    static func iso(_ day: UInt32) -> String {
        Output.isoDate(unixMs: UInt64(day) * 86_400_000)
    }

    /// "2025-03-14" → its day; exactly four digits, two, two, and a date that exists.
    static func day(_ text: String, option: String) throws -> UInt32 {
        let invalid = ValidationError("\(option) must be a date YYYY-MM-DD (UTC), not \"\(text)\"")
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, [4, 2, 2] == parts.map(\.count),
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { throw invalid }
        let isLeap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthLengths = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...monthLengths[month - 1]).contains(day) else { throw invalid }
        guard year >= 1970 else { throw ValidationError("\(option) must be 1970-01-01 or later, not \(text)") }
        // Howard Hinnant's days_from_civil, for years from 1970 (never negative here).
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = shiftedYear / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return UInt32(clamping: era * 146_097 + dayOfEra - 719_468)
    }
}
