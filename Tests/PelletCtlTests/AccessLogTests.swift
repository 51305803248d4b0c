import Foundation
import PelletClient
import PelletMockProvider
import PelletTesting
import PelletWire
import XCTest

/// `--access-log FILE` on a real pelletd: one JSON line per finished call, written off the event
/// loop and all on disk after a graceful shutdown, with the Complete call's account, key, offer,
/// tokens and cost, the account and key of every call made with an API key, and never any text
/// of the call. `--log-format json` makes pelletd's own log
/// one JSON object a line.
final class AccessLogTests: XCTestCase {
    private let adminToken = "access-log-admin-token-0123456789"

    func testEveryFinishedCallHasOneJSONLineAndNoTextOfTheCall() async throws {
        var behavior = MockBehavior()
        behavior.completionTokens = 7
        let mocks = try await MockProviders.start(behavior)
        defer { mocks.shutdownLater() }
        let logDirectory = try TemporaryDirectory(prefix: "access-log")
        let logPath = logDirectory.path + "/access.log"
        let pelletd = try PelletdProcess.start(
            arguments: mocks.arguments + ["--access-log", logPath],
            environment: MockProviders.environment(adminToken: adminToken))

        let client = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(pelletd.unixPath)))
        let admin = Credentials(adminToken: adminToken)
        let account = try await client.account(
            AccountRequest(credentials: admin, op: .create(Account(name: "Logged", email: "logged@example.com"))))
        let accountID = try XCTUnwrap(account.account?.id)
        let key = try await client.account(
            AccountRequest(credentials: admin, op: .createKey(CreateKey(accountId: accountID, name: "logged"))))
        let marker = "PRIVACY-MARKER-\(UInt64.random(in: 1_000_000_000...9_999_999_999))"
        let messages = [ChatMessage(role: "user", content: "Translate \(marker) into French.")]
        let credentials = Credentials(apiKey: key.apiKey)
        let route = try await client.route(RouteRequest(credentials: credentials, messages: messages))
        _ = try await client.usage(UsageRequest(credentials: credentials))
        let unary = try await client.complete(CompleteRequest(credentials: credentials, messages: messages, maxTokens: 32))
        XCTAssertFalse(unary.content.isEmpty)
        for try await _ in client.completeStream(CompleteRequest(credentials: credentials, messages: messages, maxTokens: 32)) {}
        await client.close()
        // The lines of calls answered before SIGTERM are all written before pelletd exits.
        let exit = try pelletd.stop()
        XCTAssertEqual(exit.status, 0, exit.stderr)

        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        XCTAssertFalse(text.contains(marker), "call text in the access log")
        XCTAssertFalse(text.contains(key.apiKey), "an API key in the access log")
        let attributes = try FileManager.default.attributesOfItem(atPath: logPath)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let lines = try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0))
        }
        XCTAssertEqual(
            lines.map { $0["method"] as? String }, ["Account", "Account", "Route", "Usage", "Complete", "Complete"])
        XCTAssertTrue(lines.allSatisfy { $0["status"] as? String == "OK" })
        let complete = try XCTUnwrap(lines.first { $0["request_id"] as? String == unary.requestId })
        XCTAssertEqual(complete["account_id"] as? String, accountID)
        XCTAssertFalse((complete["key_id"] as? String ?? "").isEmpty)
        XCTAssertEqual(complete["model"] as? String, unary.model)
        XCTAssertEqual(complete["provider"] as? String, unary.provider)
        XCTAssertEqual(complete["attempts"] as? Int, Int(unary.attempts))
        XCTAssertEqual(complete["cost_micro_usd"] as? Int, Int(unary.costMicroUsd))
        let tokens = try XCTUnwrap(complete["tokens"] as? [String: Int])
        XCTAssertEqual(tokens["input"], Int(unary.usage?.promptTokens ?? 0))
        XCTAssertEqual(tokens["output"], 7)
        XCTAssertEqual(tokens["cached"], 0)
        XCTAssertGreaterThan(complete["duration_us"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(complete["overhead_us"] as? Int ?? 0, 0)
        XCTAssertNotNil((complete["time"] as? String)?.firstMatch(of: #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/#))

        // Every call made with the API key names its account and key; the admin token's, neither.
        for line in lines where line["method"] as? String != "Account" {
            XCTAssertEqual(line["account_id"] as? String, accountID, "\(line)")
            XCTAssertEqual(line["key_id"] as? String, complete["key_id"] as? String, "\(line)")
        }
        XCTAssertTrue(lines.prefix(2).allSatisfy { $0["account_id"] as? String == "" && $0["key_id"] as? String == "" })
        // Route calls no provider; its line names the offer it chose.
        let routeLine = try XCTUnwrap(lines.first { $0["method"] as? String == "Route" })
        XCTAssertEqual(routeLine["model"] as? String, route.decision?.model)
        XCTAssertEqual(routeLine["provider"] as? String, route.decision?.provider)
        XCTAssertEqual(routeLine["attempts"] as? Int, 0)
    }

    func testLogFormatJSONWritesOneObjectALine() throws {
        let directory = try TemporaryDirectory(prefix: "json-log")
        let subprocess = try PelletdProcess.launch(dataDirectory: directory.path, arguments: ["--log-format", "json"])
        _ = try subprocess.waitForStderr { $0.contains(" ready") }
        subprocess.signal(SIGTERM)
        let result = try subprocess.waitForExit()
        let lines = result.stderrLines.filter { !$0.isEmpty }
        XCTAssertGreaterThan(lines.count, 2)
        for line in lines {
            let object = try XCTUnwrap(
                try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
            XCTAssertNotNil(object["level"])
            XCTAssertNotNil(object["message"])
        }
        let ready = try XCTUnwrap(
            lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .first { ($0["message"] as? String)?.hasSuffix(" ready") == true })
        XCTAssertNotNil((ready["listen"] as? String)?.firstMatch(of: #/tcp://127\.0\.0\.1:\d+/#))
    }
}
