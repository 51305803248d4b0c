import Foundation
import PelletTesting
import XCTest

/// `pelletctl account`, `key` and `whoami`: the real binary against an in-process server with a
/// real store.
final class AccountCommandTests: XCTestCase {
    private var server: TestServer!

    override func setUp() async throws { server = try await TestServer.start() }

    override func tearDown() async throws {
        await server?.shutdown()
        server = nil
    }

    static let accountJSONKeys: Set<String> = [
        "id", "name", "email", "avatar_url", "oauth_provider", "oauth_subject", "plan", "subscription_status",
        "monthly_budget_micro_usd", "rate_limit_rpm", "created_unix_ms",
    ]
    static let keyJSONKeys: Set<String> = [
        "id", "account_id", "name", "prefix", "created_unix_ms", "last_used_unix_ms", "revoked_unix_ms",
    ]
    static let timestamp = #"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"#
    static let warning = "This key is shown only once; store it now. Pellet keeps only its SHA-256.\n"

    /// The whole life of an account and its key, in the order an operator would go.
    func testAccountAndKeyLifecycle() async throws {
        // create
        let created = try await ctl(
            "account", "create", "--name", "Ada Lovelace", "--email", "ada@example.com", "--plan", "pro", "--oauth",
            "google:1234", "--avatar", "https://example.com/ada.png", "--budget-usd", "12.50", "--rate-limit-rpm", "600"
        )
        created.assertSucceeded()
        let id = try XCTUnwrap(
            created.stdoutLines.first?.firstMatch(of: #/^id +(acc_[0-9A-Za-z]{16})$/#).map { String($0.1) })
        let stored = try XCTUnwrap(try server.store.account(id: id))
        XCTAssertEqual(stored.monthlyBudgetMicroUsd, 12_500_000, "12.50 USD in micro-USD")
        XCTAssertEqual(stored.rateLimitRpm, 600)
        XCTAssertEqual(stored.oauthProvider, "google")
        XCTAssertEqual(stored.oauthSubject, "1234")
        let adaText = [
            literal("id          \(id)"),
            literal("name        Ada Lovelace"),
            literal("email       ada@example.com"),
            literal("plan        pro"),
            literal("status      active"),
            literal("budget      $12.50 a month"),
            literal("rate limit  600 requests a minute"),
            literal("oauth       google:1234"),
            literal("avatar      https://example.com/ada.png"),
            literal("created     \(Self.iso(stored.createdUnixMs))"),
        ]
        assertLines(created.stdout, match: adaText)

        // get, by id and by email (case-insensitively)
        let byID = try await ctl("account", "get", id)
        byID.assertSucceeded()
        XCTAssertEqual(byID.stdout, created.stdout)
        let byEmail = try await ctl("account", "get", "--email", "ADA@example.com")
        byEmail.assertSucceeded()
        XCTAssertEqual(byEmail.stdout, created.stdout)
        let json = try await ctl("account", "get", id, "--json")
        json.assertSucceeded()
        XCTAssertEqual(json.stdoutLines.count, 1, json.stdout)
        let object = try jsonObject(json.stdout)
        XCTAssertEqual(Set(object.keys), Self.accountJSONKeys)
        XCTAssertEqual(object["id"] as? String, id)
        XCTAssertEqual(object["email"] as? String, "ada@example.com")
        XCTAssertEqual(object["subscription_status"] as? String, "active")
        XCTAssertEqual(object["monthly_budget_micro_usd"] as? Int, 12_500_000)
        XCTAssertEqual(object["rate_limit_rpm"] as? Int, 600)
        XCTAssertEqual(object["oauth_provider"] as? String, "google")
        XCTAssertEqual(object["created_unix_ms"] as? Int, Int(stored.createdUnixMs))

        // list: a second account, then pages
        let bob = try await ctl("account", "create", "--name", "Bob", "--email", "bob@example.com", "--json")
        bob.assertSucceeded()
        let bobObject = try jsonObject(bob.stdout)
        let bobID = try XCTUnwrap(bobObject["id"] as? String)
        XCTAssertEqual(bobObject["plan"] as? String, "free")
        XCTAssertEqual(bobObject["monthly_budget_micro_usd"] as? Int, 0)
        let bobStored = try XCTUnwrap(try server.store.account(id: bobID))
        let bobText = try await ctl("account", "get", bobID)
        bobText.assertSucceeded()
        assertLines(
            bobText.stdout,
            match: [
                literal("id          \(bobID)"),
                literal("name        Bob"),
                literal("email       bob@example.com"),
                literal("plan        free"),
                literal("status      active"),
                literal("budget      none"),
                literal("rate limit  none"),
                literal("oauth       none"),
                literal("avatar      none"),
                literal("created     \(Self.iso(bobStored.createdUnixMs))"),
            ])

        // Columns: every one but the last padded to its widest cell + 2.
        let cells = [
            id: [id, "ada@example.com", "Ada Lovelace", "pro", "active", Self.day(stored.createdUnixMs)],
            bobID: [bobID, "bob@example.com", "Bob", "free", "active", Self.day(bobStored.createdUnixMs)],
        ]
        let header = ["ID", "EMAIL", "NAME", "PLAN", "STATUS", "CREATED"]
        let (first, second) = id < bobID ? (id, bobID) : (bobID, id)
        let bothWidths = [20, 15, 12, 4, 6]
        let list = try await ctl("account", "list")
        list.assertSucceeded()
        XCTAssertEqual(
            list.stdout, row(header, bothWidths) + row(cells[first]!, bothWidths) + row(cells[second]!, bothWidths))
        for (arguments, shown, more) in [
            (["--limit", "1"], first, "more: pelletctl account list --cursor \(first)\n"),
            (["--limit", "1", "--cursor", first], second, ""),
        ] {
            let page = try await ctl(["account", "list"] + arguments)
            page.assertSucceeded()
            let widths = [20, 15, max(4, cells[shown]![2].count), 4, 6]
            XCTAssertEqual(page.stdout, row(header, widths) + row(cells[shown]!, widths) + more, "\(arguments)")
        }
        let all = try await ctl("account", "list", "--limit", "1", "--all")
        all.assertSucceeded()
        XCTAssertEqual(all.stdout, list.stdout, "--all follows the cursor to the end")
        let listJSON = try await ctl("account", "list", "--json", "--limit", "1")
        listJSON.assertSucceeded()
        let page = try jsonObject(listJSON.stdout)
        XCTAssertEqual(Set(page.keys), ["accounts", "next_cursor"])
        XCTAssertEqual(page["next_cursor"] as? String, first)
        XCTAssertEqual((page["accounts"] as? [[String: Any]])?.map { $0["id"] as? String }, [first])

        // update: only the fields given change
        let updated = try await ctl(
            "account", "update", id, "--name", "Ada King", "--plan", "team", "--status", "trialing", "--budget-usd",
            "0.000125")
        updated.assertSucceeded()
        assertLines(
            updated.stdout,
            match: [
                literal("id          \(id)"),
                literal("name        Ada King"),
                literal("email       ada@example.com"),
                literal("plan        team"),
                literal("status      trialing"),
                literal("budget      $0.000125 a month"),
                literal("rate limit  600 requests a minute"),
                literal("oauth       google:1234"),
                literal("avatar      https://example.com/ada.png"),
                literal("created     \(Self.iso(stored.createdUnixMs))"),
            ])
        XCTAssertEqual(try server.store.account(id: id)?.monthlyBudgetMicroUsd, 125)

        // key create: the plaintext once on stdout, the warning on stderr
        let keyCreated = try await ctl("key", "create", id, "--name", "ci")
        XCTAssertEqual(keyCreated.status, 0, keyCreated.stderr)
        XCTAssertEqual(keyCreated.stderr, Self.warning)
        let apiKey = try XCTUnwrap(
            keyCreated.stdoutLines.first?.firstMatch(of: #/^api key +(plt_[0-9A-Za-z]{43})$/#).map { String($0.1) })
        let keyID = try XCTUnwrap(
            keyCreated.stdoutLines.dropFirst().first?.firstMatch(of: #/^id +(key_[0-9A-Za-z]{16})$/#).map {
                String($0.1)
            })
        let keyRecord = try XCTUnwrap(try server.store.key(id: keyID))
        XCTAssertEqual(keyRecord.prefix, String(apiKey.prefix(12)))
        assertLines(
            keyCreated.stdout,
            match: [
                literal("api key    \(apiKey)"),
                literal("id         \(keyID)"),
                literal("account    \(id)"),
                literal("name       ci"),
                literal("prefix     \(apiKey.prefix(12))"),
                literal("created    \(Self.iso(keyRecord.createdUnixMs))"),
                literal("last used  never"),
                literal("revoked    no"),
            ])

        // key list: the prefix, never the key or its hash
        let keys = try await ctl("key", "list", id)
        keys.assertSucceeded()
        XCTAssertEqual(
            keys.stdout,
            row(["ID", "PREFIX", "NAME", "CREATED", "LAST USED", "REVOKED"], [20, 12, 4, 20, 9])
                + row(
                    [keyID, String(apiKey.prefix(12)), "ci", Self.iso(keyRecord.createdUnixMs), "never", "-"],
                    [20, 12, 4, 20, 9]))
        let keysJSON = try await ctl("key", "list", id, "--json")
        keysJSON.assertSucceeded()
        XCTAssertFalse(keysJSON.stdout.contains(apiKey))
        let listedKeys = try XCTUnwrap(try jsonObject(keysJSON.stdout)["keys"] as? [[String: Any]])
        XCTAssertEqual(listedKeys.count, 1)
        XCTAssertEqual(Set(listedKeys[0].keys), Self.keyJSONKeys, "no hash, no plaintext")
        XCTAssertEqual(listedKeys[0]["prefix"] as? String, String(apiKey.prefix(12)))

        // whoami: the key's own account, from the environment or the flag, without the admin token
        let adaNow = try await ctl("account", "get", id)
        for (arguments, environment) in [([String](), ["PELLET_API_KEY": apiKey]), (["--api-key", apiKey], [:])] {
            let whoami = try await ctl(["whoami"] + arguments, environment: environment, adminToken: nil)
            whoami.assertSucceeded()
            XCTAssertEqual(whoami.stdout, adaNow.stdout)
        }
        let whoamiJSON = try await ctl(["whoami", "--json"], environment: ["PELLET_API_KEY": apiKey], adminToken: nil)
        whoamiJSON.assertSucceeded()
        XCTAssertEqual(try jsonObject(whoamiJSON.stdout)["id"] as? String, id)

        // key revoke, then the key fails on the very next call
        let revoked = try await ctl("key", "revoke", keyID)
        revoked.assertSucceeded()
        let revokedAt = try XCTUnwrap(try server.store.key(id: keyID)?.revokedUnixMs)
        XCTAssertGreaterThan(revokedAt, 0)
        XCTAssertEqual(revoked.stdoutLines.last, "revoked    \(Self.iso(revokedAt))")
        XCTAssertFalse(revoked.stdout.contains(apiKey))
        let rejected = try await ctl(["whoami", "--api-key", apiKey], adminToken: nil)
        XCTAssertEqual(rejected.status, 1, rejected.stderr)
        XCTAssertEqual(rejected.stdout, "")
        XCTAssertEqual(rejected.stderr, "error: UNAUTHENTICATED: invalid API key\n")

        // export: a 0600 file of pretty JSON, even over a file that was world-readable
        let directory = try TemporaryDirectory(prefix: "pellet-export")
        let exportPath = directory.file("ada.json")
        XCTAssertTrue(
            FileManager.default.createFile(
                atPath: exportPath, contents: Data("old".utf8), attributes: [.posixPermissions: 0o644]))
        let exported = try await ctl("account", "export", id, "-o", exportPath)
        exported.assertSucceeded()
        let fileData = try Data(contentsOf: URL(fileURLWithPath: exportPath))
        assertLines(
            exported.stdout,
            match: [literal("wrote the export of account \(id) to \(exportPath) (\(fileData.count) bytes, mode 0600)")])
        var info = stat()
        XCTAssertEqual(stat(exportPath, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        let fileText = String(decoding: fileData, as: UTF8.self)
        XCTAssertTrue(fileText.hasPrefix("{\n  \""), "pretty: \(fileText.prefix(40).debugDescription)")
        XCTAssertFalse(fileText.contains(apiKey))
        let document = try jsonObject(fileText)
        XCTAssertEqual(document["format"] as? String, "pellet.account_export.v1")
        XCTAssertEqual((document["account"] as? [String: Any])?["id"] as? String, id)
        XCTAssertEqual((document["keys"] as? [[String: Any]])?.map { $0["id"] as? String }, [keyID])
        // To stdout: the same document, pretty by default and on one line with --json.
        let toStdout = try await ctl("account", "export", id)
        toStdout.assertSucceeded()
        XCTAssertGreaterThan(toStdout.stdoutLines.count, 20)
        XCTAssertEqual(Self.withoutExportTime(try jsonObject(toStdout.stdout)), Self.withoutExportTime(document))
        let compact = try await ctl("account", "export", id, "--json")
        compact.assertSucceeded()
        XCTAssertEqual(compact.stdoutLines.count, 1)
        XCTAssertEqual(Self.withoutExportTime(try jsonObject(compact.stdout)), Self.withoutExportTime(document))

        // delete: asks first; "no" and end of input abort and keep the account
        let prompt =
            "Delete account \(id) (ada@example.com) and everything held about it? Type the account id to confirm: "
        let refused = try await ctl(["account", "delete", id], stdin: "no\n")
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertEqual(refused.stdout, "")
        XCTAssertEqual(refused.stderr, prompt + "aborted: nothing was deleted\n")
        let endOfInput = try await ctl(["account", "delete", id], stdin: "")
        XCTAssertEqual(endOfInput.status, 1, endOfInput.stderr)
        XCTAssertEqual(endOfInput.stderr, prompt + "\naborted: nothing was deleted\n")
        let closedInput = try await ctl(["account", "delete", id])
        XCTAssertEqual(closedInput.status, 1, "stdin is /dev/null: \(closedInput.stderr)")
        XCTAssertEqual(closedInput.stderr, endOfInput.stderr)
        XCTAssertNotNil(try server.store.account(id: id), "still there after three refusals")
        try await ctl("account", "get", id).assertSucceeded()

        // delete: typing the id confirms
        let deleted = try await ctl(["account", "delete", id], stdin: id + "\n")
        XCTAssertEqual(deleted.status, 0, deleted.stderr)
        XCTAssertEqual(deleted.stderr, prompt)
        XCTAssertEqual(deleted.stdout, "deleted account \(id) (ada@example.com)\n")
        XCTAssertNil(try server.store.account(id: id))
        XCTAssertNil(try server.store.key(id: keyID))
        for arguments in [["account", "get", id], ["key", "list", id], ["account", "delete", "--yes", id]] {
            let gone = try await ctl(arguments)
            XCTAssertEqual(gone.status, 1, "\(arguments): \(gone.stderr)")
            XCTAssertEqual(gone.stdout, "")
            XCTAssertEqual(gone.stderr, "error: NOT_FOUND: no account has id \(id)\n", "\(arguments)")
        }
        // Bob is untouched; --yes deletes without asking.
        let deletedBob = try await ctl("account", "delete", bobID, "--yes", "--json")
        deletedBob.assertSucceeded()
        XCTAssertEqual(try jsonObject(deletedBob.stdout)["email"] as? String, "bob@example.com")
        let empty = try await ctl("account", "list")
        empty.assertSucceeded()
        XCTAssertEqual(empty.stdout, "no accounts\n")
    }

    func testUnknownIdsAreNotFound() async throws {
        for (arguments, message) in [
            (["account", "delete", "--yes", "acc_unknown"], "no account has id acc_unknown"),
            (["account", "delete", "acc_unknown"], "no account has id acc_unknown"),  // before any prompt
            (["account", "get", "--email", "nobody@example.com"], "no account has email nobody@example.com"),
            (["account", "update", "acc_unknown", "--plan", "pro"], "no account has id acc_unknown"),
            (["account", "export", "acc_unknown"], "no account has id acc_unknown"),
            (["key", "create", "acc_unknown"], "no account has id acc_unknown"),
            (["key", "revoke", "key_unknown"], "no API key has id key_unknown"),
        ] {
            let result = try await ctl(arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            XCTAssertEqual(result.stderr, "error: NOT_FOUND: \(message)\n", "\(arguments)")
        }
    }

    func testTheAdminTokenIsCheckedAndFoundWhereDocumented() async throws {
        let wrong = try await ctl(["account", "list"], adminToken: "not-the-token")
        XCTAssertEqual(wrong.status, 1, wrong.stderr)
        XCTAssertEqual(wrong.stdout, "")
        XCTAssertEqual(wrong.stderr, "error: PERMISSION_DENIED: the admin token is not valid\n")

        let emptyDataDirectory = try TemporaryDirectory()
        let missing = try await ctl(["key", "list", "acc_x", "--data-dir", emptyDataDirectory.path], adminToken: nil)
        XCTAssertEqual(missing.status, 1, missing.stderr)
        XCTAssertEqual(
            missing.stderr,
            "error: PERMISSION_DENIED: this operation needs the admin token in credentials.admin_token\n")

        // $PELLET_ADMIN_TOKEN, then <data-dir>/admin.token.
        let fromEnvironment = try await ctl(
            ["account", "list"], environment: ["PELLET_ADMIN_TOKEN": TestServer.adminToken], adminToken: nil)
        fromEnvironment.assertSucceeded()
        XCTAssertEqual(fromEnvironment.stdout, "no accounts\n")
        try Data((TestServer.adminToken + "\n").utf8).write(
            to: URL(fileURLWithPath: emptyDataDirectory.file("admin.token")))
        let fromFile = try await ctl(["account", "list", "--data-dir", emptyDataDirectory.path], adminToken: nil)
        fromFile.assertSucceeded()

        // An API key is no admin token.
        let created = try await ctl("account", "create", "--name", "Eve", "--email", "eve@example.com", "--json")
        let id = try XCTUnwrap(try jsonObject(created.stdout)["id"] as? String)
        let key = try await ctl("key", "create", id, "--json")
        let apiKey = try XCTUnwrap(try jsonObject(key.stdout)["api_key"] as? String)
        let withKey = try await ctl(["account", "list"], environment: ["PELLET_API_KEY": apiKey], adminToken: nil)
        XCTAssertEqual(withKey.status, 1)
        XCTAssertTrue(withKey.stderr.hasPrefix("error: PERMISSION_DENIED: "), withKey.stderr)
    }

    func testServerSideChecksAreCallErrors() async throws {
        try await ctl("account", "create", "--name", "Ada", "--email", "ada@example.com").assertSucceeded()
        for (arguments, line) in [
            (
                ["--name", "Ada", "--email", "ADA@example.com"],
                literal("error: ALREADY_EXISTS: an account with email ADA@example.com already exists")
            ),
            (
                ["--name", "Ada", "--email", "nope"],
                literal(#"error: INVALID_ARGUMENT: email "nope" is not an address of the form name@domain.tld"#)
            ),
            (
                ["--name", "Ada", "--email", "p@example.com", "--plan", "platinum"],
                literal(#"error: INVALID_ARGUMENT: plan "platinum" is not one of "#) + ".*"
            ),
        ] {
            let result = try await ctl(["account", "create"] + arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "")
            assertLines(result.stderr, match: [line])
        }
    }

    func testACanceledAccountsKeyIsRefused() async throws {
        let created = try await ctl("account", "create", "--name", "Cy", "--email", "cy@example.com", "--json")
        let id = try XCTUnwrap(try jsonObject(created.stdout)["id"] as? String)
        let key = try await ctl("key", "create", id, "--json")
        XCTAssertEqual(key.stderr, Self.warning)
        let keyObject = try jsonObject(key.stdout)
        XCTAssertEqual(Set(keyObject.keys), ["api_key", "key"])
        XCTAssertEqual(Set(try XCTUnwrap(keyObject["key"] as? [String: Any]).keys), Self.keyJSONKeys)
        let apiKey = try XCTUnwrap(keyObject["api_key"] as? String)

        try await ctl("account", "update", id, "--status", "canceled").assertSucceeded()
        let refused = try await ctl(["whoami"], environment: ["PELLET_API_KEY": apiKey], adminToken: nil)
        XCTAssertEqual(refused.status, 1)
        assertLines(
            refused.stderr, match: [literal("error: PERMISSION_DENIED: the account's subscription is canceled") + ".*"])
        try await ctl("account", "update", id, "--status", "active").assertSucceeded()
        try await ctl(["whoami"], environment: ["PELLET_API_KEY": apiKey], adminToken: nil).assertSucceeded()
    }

    func testBadInputIsAUsageError() async throws {
        let create = ["account", "create", "--name", "Ada", "--email", "ada@example.com"]
        for (arguments, message) in [
            (
                create + ["--oauth", "facebook:1"],
                #"--oauth must be google:SUBJECT or github:SUBJECT, not "facebook:1""#
            ), (create + ["--oauth", "google:"], #"--oauth must be google:SUBJECT or github:SUBJECT, not "google:""#),
            (
                create + ["--budget-usd=-1"],
                #"--budget-usd must be a non-negative amount of US dollars with at most 6 decimals, like 12.50, not "-1""#
            ), (create + ["--budget-usd", "1.1234567"], "with at most 6 decimals"),
            (create + ["--budget-usd", "twelve"], "like 12.50"),
            (create + ["--budget-usd", "99999999999999999"], "--budget-usd 99999999999999999 is too large"),
            (create + ["--rate-limit-rpm", "4294967296"], "--rate-limit-rpm must be from 0 to 4294967295"),
            (["account", "create", "--name", "Ada"], "Missing expected argument '--email <email>'"),
            (["account", "get"], "give an account id or --email"),
            (["account", "get", "acc_x", "--email", "a@b.co"], "give an account id or --email, not both"),
            (["account", "list", "--limit", "0"], "--limit must be from 1 to 1000, not 0"),
            (["account", "update", "acc_x"], "nothing to change: give at least one of"),
            (["account", "update", "acc_x", "--budget-usd", "0"], "--budget-usd must be above 0"),
            (["account", "update", "acc_x", "--rate-limit-rpm", "0"], "--rate-limit-rpm must be above 0"),
            (["account", "update", "acc_x", "--name", ""], "--name may not be empty"),
            (["account", "update", "acc_x", "--status", "sleeping"], "sleeping"),
            (["whoami"], "whoami needs an API key: set PELLET_API_KEY or pass --api-key"),
        ] {
            let result = try await ctl(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        let none = try await ctl("account", "list")
        XCTAssertEqual(none.stdout, "no accounts\n", "nothing was created")
    }

    // MARK: - Helpers

    /// Runs pelletctl against the test server, with its admin token unless `adminToken` says
    /// otherwise.
    private func ctl(_ arguments: String...) async throws -> ProcessResult { try await ctl(arguments) }

    private func ctl(
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
        adminToken: String? = TestServer.adminToken
    ) async throws -> ProcessResult {
        var full = arguments + ["--server", "unix:\(server.socketPath)"]
        if let adminToken { full += ["--admin-token", adminToken] }
        return try await runWithInput(Binaries.pelletctl, full, stdin: stdin, environment: environment)
    }

    /// One table row: each cell but the last padded to its column's width + 2.
    private func row(_ cells: [String], _ widths: [Int]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
        }.joined() + "\n"
    }

    private static func iso(_ unixMs: UInt64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: Double(unixMs / 1_000)))
    }

    private static func day(_ unixMs: UInt64) -> String { String(iso(unixMs).prefix(10)) }

    private static func withoutExportTime(_ document: [String: Any]) -> NSDictionary {
        var document = document
        document["exported_unix_ms"] = nil
        return document as NSDictionary
    }
}

/// Runs `executable` with `stdin` as its input (nil: /dev/null), this process's environment
/// without the Pellet credentials plus `environment`, and kills it after `timeout`. Waits by
/// sleeping the task, not the thread, because the server under test shares the process.
private func runWithInput(
    _ executable: URL, _ arguments: [String], stdin: String?, environment: [String: String],
    timeout: Duration = .seconds(30)
) async throws -> ProcessResult {
    let outputDirectory = try TemporaryDirectory(prefix: "pellet-out")
    let (stdoutPath, stderrPath) = (outputDirectory.file("stdout"), outputDirectory.file("stderr"))
    _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
    _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var fullEnvironment = ProcessInfo.processInfo.environment
    fullEnvironment["PELLET_ADMIN_TOKEN"] = nil
    fullEnvironment["PELLET_API_KEY"] = nil
    fullEnvironment.merge(environment) { _, new in new }
    process.environment = fullEnvironment
    let stdoutHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
    let stderrHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
    process.standardOutput = stdoutHandle
    process.standardError = stderrHandle
    let input = stdin.map { _ in Pipe() }
    process.standardInput = input ?? FileHandle.nullDevice
    try process.run()
    try? stdoutHandle.close()
    try? stderrHandle.close()
    if let input, let stdin {
        // Small enough for the pipe's buffer: written whole, then closed for end of input.
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    }
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now >= deadline {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw SubprocessError(
                description: "pelletctl \(arguments.joined(separator: " ")) did not exit within \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(5))
    }
    process.waitUntilExit()
    let read = { (path: String) in String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }
    return ProcessResult(
        status: process.terminationStatus, wasSignalled: process.terminationReason == .uncaughtSignal,
        stdout: read(stdoutPath), stderr: read(stderrPath))
}
