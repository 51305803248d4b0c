import Foundation
import XCTest

/// `pelletctl route` against a real pelletd and `pelletctl models` on the built-in catalogue.
final class RouteCommandTests: XCTestCase {
    private let adminToken = "route-command-admin-token-0123456789"

    func testRoutePrintsTheDecisionAndItsFallbacks() throws {
        // Route calls no provider, but only providers with a key are candidates.
        let pelletd = try PelletdProcess.start(environment: [
            "PELLET_ADMIN_TOKEN": adminToken, "TOGETHER_API_KEY": "unused", "FIREWORKS_API_KEY": "unused",
            "GROQ_API_KEY": "unused",
        ])
        let common = ["--server", pelletd.unixAddress, "--admin-token", adminToken]

        let text = try runPelletctl(["route", "Write a Python function that merges two sorted lists."] + common)
        text.assertSucceeded()
        // The decision, the fallbacks header and the first fallback (how many follow varies).
        let head = text.stdoutLines.prefix(10).joined(separator: "\n") + "\n"
        assertLines(
            head,
            match: [
                #"task        code \(confidence \d+\.\d%\)"#,
                #"difficulty  0\.\d\d"#,
                #"model       [a-z0-9.\-]+"#,
                #"provider    (together|fireworks|groq)"#,
                #"est\. cost   \$0\.\d+"#,
                #"reason      code task .+"#,
                #"policy      p1-[0-9a-f]+"#,
                #"fallbacks"#,
                #" +MODEL +PROVIDER +EST\. COST"#,
                #"  1\. +\S+ +\S+ +\$\d+\.\d+"#,
            ]
        )

        let json = try runPelletctl(["route", "Translate 'good morning' into French.", "--preference", "cost", "--provider", "groq", "--json"] + common)
        json.assertSucceeded()
        let decision = try jsonObject(json.stdout)
        XCTAssertEqual(decision["task_type"] as? String, "translation")
        XCTAssertEqual(decision["provider"] as? String, "groq")
        XCTAssertEqual(
            Set(decision.keys),
            [
                "task_type", "confidence", "difficulty", "model", "provider", "est_cost_micro_usd", "reason", "policy_version",
                "fallbacks",
            ]
        )

        let unknown = try runPelletctl(["route", "hello", "--model", "no-such-model"] + common)
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.hasPrefix("error: NOT_FOUND: unknown model \"no-such-model\""), unknown.stderr)

        let badPreference = try runPelletctl(["route", "hello", "--preference", "cheap"] + common)
        XCTAssertEqual(badPreference.status, 2)
        try pelletd.stop()
    }

    /// Without a pelletd to ask, the catalogue still prints, every pair's state unknown, and
    /// stderr says why.
    func testModelsPrintsTheCatalogue() throws {
        let table = try runPelletctl(["models"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stderr.hasPrefix("note: availability unknown: could not connect"), table.stderr)
        XCTAssertEqual(table.stdoutLines.first?.split(separator: " ", omittingEmptySubsequences: true), ["MODEL", "PROVIDER", "CONTEXT", "IN", "$/M", "OUT", "$/M", "TTFT", "TOK/S", "STATE"])
        XCTAssertTrue(table.stdout.contains("groq"))
        XCTAssertTrue(table.stdoutLines.dropFirst().dropLast().allSatisfy { $0.hasSuffix(" unknown") }, table.stdout)
        XCTAssertTrue(table.stdoutLines.last?.hasPrefix("prices read ") ?? false)

        let json = try runPelletctl(["models", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let offers = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(Set(offers.compactMap { $0["model"] as? String }).count, 10)
        XCTAssertTrue(offers.allSatisfy { $0["state"] as? String == "unknown" })

        let missing = try runPelletctl(["models", "--catalogue", "/nonexistent/catalogue.json"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("error: INVALID_ARGUMENT: cannot read the catalogue"), missing.stderr)
    }

    private func runPelletctl(_ arguments: [String]) throws -> ProcessResult {
        try Subprocess(Binaries.pelletctl, arguments, environment: [:]).waitForExit()
    }
}
