import Foundation
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// `pelletctl usage`: the real binary against an in-process server with a real store, the events
/// recorded straight into the server's metering. The store keeps the wall clock (pelletctl's
/// default range is "today" on the same clock); the events are on days in the past, named
/// explicitly, so that nothing depends on when the test runs.
final class UsageCommandTests: XCTestCase {
    private var server: TestServer!
    private var account = Account()
    private var key = (plaintext: "", record: ApiKey())
    /// Five days ago, and the day after.
    private var first: UInt32 = 0
    private var second: UInt32 { first + 1 }

    override func setUp() async throws {
        server = try await TestServer.start()
        account = try await server.store.createAccount(Account(name: "Ada", email: "ada@example.com"))
        key = try await server.store.createKey(accountID: account.id, name: "ci")
        first = UsageCalendar.day(unixMs: StoreConfiguration.systemClock()) - 5
    }

    override func tearDown() async throws {
        await server?.shutdown()
        server = nil
    }

    /// Three calls over two days: two models and providers, one failed.
    private func recordThreeCalls() async throws {
        let (start, next) = (UsageCalendar.startOfDay(first), UsageCalendar.startOfDay(second))
        try await server.metering.record(contentsOf: [
            event(
                "req_a",
                at: start + 9 * 3_600_000,
                model: "llama-3.1-8b",
                provider: "groq",
                task: "chat",
                prompt: 100,
                completion: 200,
                cost: 1_500,
                latency: 400
            ),
            event(
                "req_b",
                at: start + 12 * 3_600_000 + 30 * 60_000,
                model: "qwen-2.5-coder",
                provider: "together",
                task: "code",
                prompt: 300,
                completion: 50,
                cost: 2_250,
                latency: 800,
                timeToFirstToken: 120,
                tokensEstimated: true
            ),
            event(
                "req_c",
                at: next + 8 * 3_600_000 + 15 * 60_000,
                model: "llama-3.1-8b",
                provider: "groq",
                task: "chat",
                prompt: 10,
                completion: 0,
                cost: 0,
                latency: 100,
                status: Status.unavailable.rawValue
            ),
        ])
    }

    func testTheTableShowsTotalsThenRowsThenRecords() async throws {
        try await recordThreeCalls()
        let (day1, day2) = (iso(first), iso(second))
        let heading = "usage of \(account.id), \(day1) to \(day2) (UTC)\n"
        let total = "total  3 requests, 410 tokens in, 250 tokens out, $0.00375, 1 error, mean latency 433.3 ms\n"

        let plain = try await ctl("--account", account.id, "--from", day1, "--to", day2)
        plain.assertSucceeded()
        XCTAssertEqual(plain.stdout, heading + total)

        let byDay = try await ctl("--account", account.id, "--from", day1, "--to", day2, "--group-by", "day")
        byDay.assertSucceeded()
        XCTAssertEqual(
            byDay.stdout,
            heading + total + "\n"
                + "DAY         REQUESTS  TOKENS IN  TOKENS OUT  COST      ERRORS  MEAN LATENCY\n"
                + "\(day1)  2         400        250         $0.00375  0       600.0 ms\n"
                + "\(day2)  1         10         0           $0.00     1       100.0 ms\n"
        )

        // Columns in a fixed order whatever the order asked; a repeated option adds fields.
        let byModel = try await ctl(
            "--account",
            account.id,
            "--from",
            day1,
            "--to",
            day2,
            "--group-by",
            "provider,model",
            "--group-by",
            "day"
        )
        byModel.assertSucceeded()
        XCTAssertEqual(
            byModel.stdout,
            heading + total + "\n"
                + "DAY         MODEL           PROVIDER  REQUESTS  TOKENS IN  TOKENS OUT  COST      ERRORS  MEAN LATENCY\n"
                + "\(day1)  llama-3.1-8b    groq      1         100        200         $0.0015   0       400.0 ms\n"
                + "\(day1)  qwen-2.5-coder  together  1         300        50          $0.00225  0       800.0 ms\n"
                + "\(day2)  llama-3.1-8b    groq      1         10         0           $0.00     1       100.0 ms\n"
        )

        let withRecords = try await ctl(
            "--account",
            account.id,
            "--from",
            day1,
            "--to",
            day2,
            "--group-by",
            "task,key",
            "--requests"
        )
        withRecords.assertSucceeded()
        let keyID = key.record.id
        let keyWidth = max(3, keyID.count) + 2
        func pad(_ text: String) -> String { text.padding(toLength: keyWidth, withPad: " ", startingAt: 0) }
        XCTAssertEqual(
            withRecords.stdout,
            heading + total + "\n"
                + "TASK  \(pad("KEY"))REQUESTS  TOKENS IN  TOKENS OUT  COST      ERRORS  MEAN LATENCY\n"
                + "chat  \(pad(keyID))2         110        200         $0.0015   1       250.0 ms\n"
                + "code  \(pad(keyID))1         300        50          $0.00225  0       800.0 ms\n"
                + "\n"
                + "TIME                  REQUEST  \(pad("KEY"))TASK  MODEL           PROVIDER  TOKENS IN  TOKENS OUT  COST      LATENCY  STATUS       ATTEMPTS\n"
                + "\(day2)T08:15:00Z  req_c    \(pad(keyID))chat  llama-3.1-8b    groq      10         0           $0.00     100 ms   UNAVAILABLE  1\n"
                + "\(day1)T12:30:00Z  req_b    \(pad(keyID))code  qwen-2.5-coder  together  300        50          $0.00225  800 ms   OK           1\n"
                + "\(day1)T09:00:00Z  req_a    \(pad(keyID))chat  llama-3.1-8b    groq      100        200         $0.0015   400 ms   OK           1\n"
        )

        // An empty range still has its totals line.
        let empty = try await ctl(
            "--account",
            account.id,
            "--from",
            iso(first - 3),
            "--to",
            iso(first - 1),
            "--group-by",
            "day",
            "--requests"
        )
        empty.assertSucceeded()
        XCTAssertEqual(
            empty.stdout,
            "usage of \(account.id), \(iso(first - 3)) to \(iso(first - 1)) (UTC)\n"
                + "total  0 requests, 0 tokens in, 0 tokens out, $0.00, 0 errors, mean latency n/a\n"
                + "\nno usage to group\n\nno request records\n"
        )
    }

    func testCSVHasAHeaderAndOneRowPerGroupOrRecord() async throws {
        try await recordThreeCalls()
        let (day1, day2) = (iso(first), iso(second))
        let range = ["--account", account.id, "--from", day1, "--to", day2, "--format", "csv"]
        let totalsHeader =
            "requests,prompt_tokens,completion_tokens,cost_micro_usd,cost_usd,errors,latency_ms_sum,mean_latency_ms"

        let totals = try await ctl(range)
        totals.assertSucceeded()
        XCTAssertEqual(totals.stdout, "from,to,\(totalsHeader)\n\(day1),\(day2),3,410,250,3750,0.00375,1,1300,433.3\n")

        let grouped = try await ctl(range + ["--group-by", "model,provider"])
        grouped.assertSucceeded()
        XCTAssertEqual(
            grouped.stdout,
            "model,provider,\(totalsHeader)\n"
                + "llama-3.1-8b,groq,2,110,200,1500,0.0015,1,500,250.0\n"
                + "qwen-2.5-coder,together,1,300,50,2250,0.00225,0,800,800.0\n"
        )

        let records = try await ctl(range + ["--requests"])
        records.assertSucceeded()
        let keyID = key.record.id
        let start = UsageCalendar.startOfDay(first)
        XCTAssertEqual(
            records.stdout,
            "time,unix_ms,request_id,key_id,task_type,model,provider,prompt_tokens,completion_tokens,cost_micro_usd,"
                + "cost_usd,latency_ms,status,attempts,time_to_first_token_ms,tokens_estimated\n"
                + "\(day2)T08:15:00Z,\(UsageCalendar.startOfDay(second) + 29_700_000),req_c,\(keyID),chat,llama-3.1-8b,"
                + "groq,10,0,0,0.00,100,14,1,0,false\n"
                + "\(day1)T12:30:00Z,\(start + 45_000_000),req_b,\(keyID),code,qwen-2.5-coder,together,300,50,2250,"
                + "0.00225,800,0,1,120,true\n"
                + "\(day1)T09:00:00Z,\(start + 32_400_000),req_a,\(keyID),chat,llama-3.1-8b,groq,100,200,1500,0.0015,"
                + "400,0,1,0,false\n"
        )

        // A field holding a comma or a quote is quoted.
        try await server.metering.record(
            event("req_\"q\"", at: UsageCalendar.startOfDay(first) + 1, model: "odd,model", cost: 1)
        )
        let quoted = try await ctl(range + ["--group-by", "model"])
        quoted.assertSucceeded()
        XCTAssertTrue(quoted.stdout.contains("\n\"odd,model\",1,"), quoted.stdout)
        let quotedRecords = try await ctl(range + ["--requests"])
        XCTAssertTrue(quotedRecords.stdout.contains(",\"req_\"\"q\"\"\","), quotedRecords.stdout)
    }

    func testJSONHasTheSchemaFieldNames() async throws {
        try await recordThreeCalls()
        let (day1, day2) = (iso(first), iso(second))
        for arguments in [["--format", "json"], ["--json"]] {
            let result = try await ctl(
                ["--account", account.id, "--from", day1, "--to", day2, "--group-by", "day,model", "--requests"]
                    + arguments
            )
            result.assertSucceeded()
            XCTAssertEqual(result.stdoutLines.count, 1, result.stdout)
            let object = try jsonObject(result.stdout)
            XCTAssertEqual(
                Set(object.keys),
                [
                    "account_id", "from", "to", "from_day", "to_day", "group_by", "totals", "rows", "requests",
                    "next_cursor",
                ]
            )
            XCTAssertEqual(object["account_id"] as? String, account.id)
            XCTAssertEqual(object["from"] as? String, day1)
            XCTAssertEqual(object["to_day"] as? Int, Int(second))
            XCTAssertEqual(object["group_by"] as? [String], ["day", "model"])
            XCTAssertEqual(object["next_cursor"] as? String, "")
            let totals = try XCTUnwrap(object["totals"] as? [String: Int])
            XCTAssertEqual(
                totals,
                [
                    "requests": 3, "prompt_tokens": 410, "completion_tokens": 250, "cost_micro_usd": 3_750,
                    "errors": 1, "latency_ms_sum": 1_300,
                ]
            )
            let rows = try XCTUnwrap(object["rows"] as? [[String: Any]])
            XCTAssertEqual(rows.count, 3)
            XCTAssertEqual(Set(rows[0].keys), ["day", "date", "model", "totals"], "only the fields grouped by")
            XCTAssertEqual(rows.map { $0["date"] as? String }, [day1, day1, day2])
            XCTAssertEqual(rows.map { $0["model"] as? String }, ["llama-3.1-8b", "qwen-2.5-coder", "llama-3.1-8b"])
            XCTAssertEqual((rows[2]["totals"] as? [String: Int])?["errors"], 1)
            let records = try XCTUnwrap(object["requests"] as? [[String: Any]])
            XCTAssertEqual(records.map { $0["request_id"] as? String }, ["req_c", "req_b", "req_a"])
            XCTAssertEqual(
                Set(records[0].keys),
                [
                    "request_id", "unix_ms", "key_id", "task_type", "model", "provider", "prompt_tokens",
                    "completion_tokens", "cost_micro_usd", "latency_ms", "status", "attempts",
                    "time_to_first_token_ms", "tokens_estimated",
                ]
            )
            XCTAssertEqual(records[0]["status"] as? Int, 14)
            XCTAssertEqual(records[1]["cost_micro_usd"] as? Int, 2_250)
            XCTAssertEqual(records[1]["time_to_first_token_ms"] as? Int, 120)
            XCTAssertEqual(records[1]["tokens_estimated"] as? Bool, true)
        }
    }

    func testAnAPIKeySeesItsOwnAccountOnly() async throws {
        try await recordThreeCalls()
        let other = try await server.store.createAccount(Account(name: "Bob", email: "bob@example.com"))
        let range = ["--from", iso(first), "--to", iso(second)]
        for (arguments, environment) in [
            (range, ["PELLET_API_KEY": key.plaintext]),
            (range + ["--api-key", key.plaintext], [:]),
            (range + ["--account", account.id], ["PELLET_API_KEY": key.plaintext]),
        ] {
            let own = try await ctl(arguments, environment: environment, adminToken: nil)
            own.assertSucceeded()
            XCTAssertEqual(own.stdoutLines.first, "usage of \(account.id), \(iso(first)) to \(iso(second)) (UTC)")
            XCTAssertEqual(own.stdoutLines.count, 2, own.stdout)
        }
        let refused = try await ctl(
            range + ["--account", other.id],
            environment: ["PELLET_API_KEY": key.plaintext],
            adminToken: nil
        )
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertEqual(refused.stdout, "")
        assertLines(refused.stderr, match: ["error: PERMISSION_DENIED: an API key sees only its own account's usage.*"])

        // An explicit admin token beats a key in the environment.
        let asAdmin = try await ctl(range + ["--account", other.id], environment: ["PELLET_API_KEY": key.plaintext])
        asAdmin.assertSucceeded()
        XCTAssertEqual(asAdmin.stdoutLines.first, "usage of \(other.id), \(iso(first)) to \(iso(second)) (UTC)")
    }

    func testPagesOfRecordsFollowTheCursor() async throws {
        let start = UsageCalendar.startOfDay(first)
        try await server.metering.record(
            contentsOf: (0..<250).map { event(String(format: "req_%03d", $0), at: start + UInt64($0) * 60_000) }
        )
        let range = ["--account", account.id, "--from", iso(first), "--to", iso(first)]

        let firstPage = try await ctl(range + ["--requests", "--limit", "100"])
        firstPage.assertSucceeded()
        let more = try XCTUnwrap(firstPage.stdoutLines.last)
        let cursor = try XCTUnwrap(more.firstMatch(of: #/--cursor (\S+)$/#).map { String($0.1) })
        XCTAssertEqual(
            more,
            "more: pelletctl usage --account \(account.id) --from \(iso(first)) --to \(iso(first)) --requests "
                + "--limit 100 --cursor \(cursor)"
        )
        XCTAssertEqual(ids(inTable: firstPage.stdout), (150..<250).reversed().map { String(format: "req_%03d", $0) })

        // The command printed, run as printed, shows the next page.
        let words = more.dropFirst("more: pelletctl usage ".count).split(separator: " ").map(String.init)
        let secondPage = try await ctl(words)
        secondPage.assertSucceeded()
        XCTAssertEqual(ids(inTable: secondPage.stdout), (50..<150).reversed().map { String(format: "req_%03d", $0) })

        // --all: every record once, newest first, and no "more".
        let all = try await ctl(range + ["--requests", "--limit", "30", "--all", "--format", "csv"])
        all.assertSucceeded()
        let csvIDs = all.stdoutLines.dropFirst().map { String($0.split(separator: ",")[2]) }
        XCTAssertEqual(csvIDs, (0..<250).reversed().map { String(format: "req_%03d", $0) })
        let allTable = try await ctl(range + ["--requests", "--all"])
        allTable.assertSucceeded()
        XCTAssertEqual(ids(inTable: allTable.stdout).count, 250)
        XCTAssertFalse(allTable.stdout.contains("more:"))

        // A partial CSV export says so on stderr, never inside the CSV.
        let partial = try await ctl(range + ["--requests", "--format", "csv"])
        XCTAssertEqual(partial.status, 0)
        XCTAssertEqual(partial.stdoutLines.count, 101)
        assertLines(partial.stderr, match: ["more: pelletctl usage .* --format csv --cursor \\S+ \\(or use --all\\)"])
    }

    func testTheDefaultRangeIsTheLast30DaysToday() async throws {
        let result = try await ctl("--account", account.id)
        result.assertSucceeded()
        // Either side of a midnight that may pass while the test runs.
        let todays = [StoreConfiguration.systemClock() - 60_000, StoreConfiguration.systemClock()].map {
            UsageCalendar.day(unixMs: $0)
        }
        let headings = todays.map { "usage of \(account.id), \(iso($0 - 29)) to \(iso($0)) (UTC)" }
        XCTAssertTrue(headings.contains(result.stdoutLines.first ?? ""), result.stdout)
    }

    func testExitStatuses() async throws {
        let id = account.id
        // Usage errors: 2, before any call.
        for (arguments, message) in [
            (["--account", id, "--from", "2024-02-30"], #"--from must be a date YYYY-MM-DD (UTC), not "2024-02-30""#),
            (["--account", id, "--to", "24-01-01"], "--to must be a date YYYY-MM-DD"),
            (["--account", id, "--from", "1969-12-31"], "--from must be 1970-01-01 or later"),
            (
                ["--account", id, "--from", "2024-03-02", "--to", "2024-03-01"],
                "--from 2024-03-02 is after --to 2024-03-01"
            ),
            (
                ["--account", id, "--group-by", "day,colour"],
                #"--group-by takes day, model, provider, task and key, not "colour""#
            ),
            (["--account", id, "--limit", "5"], "--limit pages the request records: add --requests"),
            (["--account", id, "--all"], "--all pages the request records: add --requests"),
            (["--account", id, "--requests", "--limit", "0"], "--limit must be from 1 to 1000, not 0"),
            (["--account", id, "--requests", "--group-by", "day", "--format", "csv"], "CSV holds one table"),
            (["--account", id, "--json", "--format", "csv"], "--json and --format csv disagree"),
            (["--account", id, "--format", "yaml"], "yaml"),
            (["--from", "2024-01-01"], "with the admin token, name the account: --account ID"),
            (["--account", ""], "--account may not be empty"),
            (["--account", id, "--api-key", key.plaintext], "give --api-key or --admin-token, not both"),
        ] {
            let result = try await ctl(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        let emptyDataDirectory = try TemporaryDirectory()
        let noCredentials = try await ctl(["--account", id, "--data-dir", emptyDataDirectory.path], adminToken: nil)
        XCTAssertEqual(noCredentials.status, 2, noCredentials.stderr)
        XCTAssertTrue(noCredentials.stderr.contains("usage needs an API key"), noCredentials.stderr)

        // Call errors: 1, one line on stderr, nothing on stdout.
        let today = UsageCalendar.day(unixMs: StoreConfiguration.systemClock())
        for (arguments, environment, adminToken, line) in [
            (
                ["--account", "acc_missing"], [:], TestServer.adminToken,
                "error: NOT_FOUND: no account has id acc_missing"
            ),
            (
                ["--account", id, "--from", iso(today - 200), "--to", iso(today)], [:], TestServer.adminToken,
                "error: INVALID_ARGUMENT: the range .* spans 201 days; usage is kept 90 days.*"
            ),
            (
                ["--account", id, "--requests", "--cursor", "bogus"], [:], TestServer.adminToken,
                "error: INVALID_ARGUMENT: the cursor \"bogus\" is not one this server returned"
            ),
            (["--account", id], [:], "not-the-token", "error: PERMISSION_DENIED: the admin token is not valid"),
            ([], ["PELLET_API_KEY": "plt_not_a_key"], nil, "error: UNAUTHENTICATED: invalid API key"),
        ] as [([String], [String: String], String?, String)] {
            let result = try await ctl(arguments, environment: environment, adminToken: adminToken)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            assertLines(result.stderr, match: [line])
        }
    }

    // MARK: Helpers

    private func event(
        _ requestID: String,
        at unixMs: UInt64,
        model: String = "llama-3.1-8b",
        provider: String = "groq",
        task: String = "chat",
        prompt: UInt32 = 1,
        completion: UInt32 = 1,
        cost: UInt64 = 10,
        latency: UInt32 = 5,
        status: UInt32 = 0,
        timeToFirstToken: UInt32 = 0,
        tokensEstimated: Bool = false
    ) -> MeteringEvent {
        MeteringEvent(
            requestID: requestID,
            accountID: account.id,
            keyID: key.record.id,
            unixMs: unixMs,
            taskType: task,
            model: model,
            provider: provider,
            promptTokens: prompt,
            completionTokens: completion,
            costMicroUSD: cost,
            latencyMs: latency,
            timeToFirstTokenMs: timeToFirstToken,
            status: status,
            tokensEstimated: tokensEstimated
        )
    }

    private func iso(_ day: UInt32) -> String { UsageCalendar.isoDate(ofDay: day) }

    /// The request ids of the records table: the second column of its rows.
    private func ids(inTable text: String) -> [String] {
        ProcessResult.lines(text).compactMap { $0.firstMatch(of: #/^\S+T\S+Z  (\S+)/#).map { String($0.1) } }
    }

    private func ctl(_ arguments: String...) async throws -> ProcessResult { try await ctl(arguments) }

    /// `pelletctl usage ARGUMENTS` against the test server, with the admin token unless
    /// `adminToken` is nil, and no API key but `environment`'s. Waits by sleeping the task, not
    /// the thread: the server under test shares the process.
    private func ctl(
        _ arguments: [String],
        environment: [String: String] = [:],
        adminToken: String? = TestServer.adminToken
    ) async throws -> ProcessResult {
        var full = ["usage"] + arguments + ["--server", "unix:\(server.socketPath)"]
        if let adminToken { full += ["--admin-token", adminToken] }
        let process = try Subprocess(
            Binaries.pelletctl,
            full,
            environment: ["PELLET_API_KEY": ""].merging(environment) { $1 }
        )
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        return try process.waitForExit(timeout: .seconds(1))
    }
}
