import Foundation
import PelletMockProvider
import PelletTesting
import XCTest

/// `pelletctl complete` through a real pelletd to three real (in-process) mock providers, and
/// the privacy rule: the prompt and the completion appear nowhere in the logs or the data dir.
final class CompleteCommandTests: XCTestCase {
    private let adminToken = "complete-command-admin-token-0123456789"

    func testCompleteUnaryAndStreamedLeaveNoTextBehind() async throws {
        var mocks: [MockServer] = []
        var urls: [String] = []
        for name in ["together", "fireworks", "groq"] {
            var configuration = MockConfiguration()
            configuration.name = name
            configuration.threads = 1
            let mock = try await MockServer.start(configuration)
            mocks.append(mock)
            urls += ["--provider-url", "\(name)=\(mock.baseURL)"]
        }
        // Trace logging: the most the server ever writes, so the privacy check covers it all.
        let pelletd = try PelletdProcess.start(
            arguments: urls + ["--log-level", "trace"],
            environment: [
                "PELLET_ADMIN_TOKEN": adminToken, "TOGETHER_API_KEY": "mock", "FIREWORKS_API_KEY": "mock",
                "GROQ_API_KEY": "mock",
            ]
        )
        let admin = ["--server", pelletd.unixAddress, "--admin-token", adminToken, "--json"]
        let created = try ctl(["account", "create", "--name", "Privacy Test", "--email", "privacy@example.com"] + admin)
        created.assertSucceeded()
        let accountID = try XCTUnwrap(try jsonObject(created.stdout)["id"] as? String)
        let keyResult = try ctl(["key", "create", accountID] + admin)
        let apiKey = try XCTUnwrap(try jsonObject(keyResult.stdout)["api_key"] as? String)

        let marker = "zebra-quasar-\(UInt64.random(in: 1_000_000...9_999_999))"
        let prompt = "Summarize this note in one line: \(marker) is the code word."
        let keyEnvironment = ["PELLET_API_KEY": apiKey]

        let unary = try ctl(["complete", prompt, "--max-tokens", "12", "--server", pelletd.unixAddress], environment: keyEnvironment)
        unary.assertSucceeded()
        let unaryLines = unary.stdoutLines
        XCTAssertFalse(unaryLines[0].isEmpty, "the answer comes first")
        assertLines(
            unaryLines.dropFirst(2).joined(separator: "\n") + "\n",
            match: [
                #"model    \S+ on (together|fireworks|groq)"#,
                #"tokens   \d+ in, 12 out"#,
                #"cost     \$\d+\.\d+"#,
                #"latency  \d+ ms, 1 attempt"#,
                #"request  req_\S+"#,
            ]
        )

        let streamed = try ctl(["complete", prompt, "--max-tokens", "8", "--stream", "--json", "--server", pelletd.unixAddress], environment: keyEnvironment)
        streamed.assertSucceeded()
        let response = try jsonObject(streamed.stdout)
        XCTAssertEqual(response["completion_tokens"] as? Int, 8)
        XCTAssertEqual(response["content"] as? String, "", "a stream's END carries no content")
        XCTAssertEqual(response["attempts"] as? Int, 1)

        // The gateway measured its own time on both calls, and Health reports it.
        let health = try ctl(["health", "--json", "--server", pelletd.unixAddress])
        health.assertSucceeded()
        let healthObject = try jsonObject(health.stdout)
        XCTAssertEqual(healthObject["gateway_overhead_calls"] as? Int, 2)
        let p50 = try XCTUnwrap(healthObject["gateway_overhead_p50_us"] as? Int)
        let p99 = try XCTUnwrap(healthObject["gateway_overhead_p99_us"] as? Int)
        XCTAssertGreaterThan(p50, 0, "a call cannot take no time in the gateway")
        XCTAssertGreaterThanOrEqual(p99, p50)

        let unknownModel = try ctl(["complete", prompt, "--model", "nope", "--server", pelletd.unixAddress], environment: keyEnvironment)
        XCTAssertEqual(unknownModel.status, 1)
        XCTAssertTrue(unknownModel.stderr.hasPrefix("error: NOT_FOUND:"), unknownModel.stderr)

        let stopped = try pelletd.stop()
        XCTAssertEqual(stopped.status, 0)
        XCTAssertTrue(stopped.stderr.contains(" ready") && stopped.stderr.contains("stopped"), "the whole log is searched")
        let completionWord = unaryLines[0].split(separator: " ").first.map(String.init) ?? marker
        for text in [marker, prompt] {
            XCTAssertFalse(stopped.stderr.contains(text), "the log holds the prompt")
            XCTAssertFalse(try mdbDump(pelletd.dataDirectory).contains(text), "the database holds the prompt")
            XCTAssertEqual(try filesContaining(text.utf8, in: pelletd.dataDirectory), [], "these files hold the prompt")
        }
        XCTAssertFalse(stopped.stderr.contains(unaryLines[0]), "the log holds the completion (\(completionWord) ...)")
        for mock in mocks { try await mock.shutdown() }
    }

    private func ctl(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        try Subprocess(Binaries.pelletctl, arguments, environment: environment).waitForExit()
    }
}
