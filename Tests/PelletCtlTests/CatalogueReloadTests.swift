import Foundation
import PelletMockProvider
import PelletTesting
import XCTest

/// Reloading the catalogue and the provider keys into a running pelletd (`pelletctl catalogue
/// reload` and SIGHUP): a call in flight finishes on the catalogue it started with, new calls
/// use the new one, `policy_version` changes, and a bad file is refused with its line and column
/// while the running catalogue stays.
final class CatalogueReloadTests: XCTestCase {
    private let adminToken = "catalogue-reload-admin-token-0123456789"

    /// `reload-model` on together only, at `input`/`output` micro-USD per million tokens; the
    /// mock answers `providerModel` after the latency its `@mock-behavior=` suffix asks for.
    private func catalogue(providerModel: String, input: Int, output: Int) -> TestCatalogue {
        TestCatalogue(models: [
            .init(
                id: "reload-model",
                offers: [.init(provider: "together", providerModel: providerModel, input: input, output: output)])
        ])
    }

    func testReloadSwitchesNewCallsWhileCallsInFlightFinishOnTheirCatalogue() async throws {
        let mocks = try await MockProviders.start(MockBehavior())
        defer { mocks.shutdownLater() }
        let together = mocks.servers[0]
        let directory = try TemporaryDirectory(prefix: "catalogue-reload")
        let cataloguePath = directory.path + "/catalogue.json"
        let environmentPath = directory.path + "/keys.env"
        try catalogue(providerModel: "slow@mock-behavior=latency=2500", input: 1_000_000, output: 2_000_000)
            .write(to: cataloguePath)
        // Together's key only in the file: pelletd reads it from --env-file.
        try "# provider keys\nexport TOGETHER_API_KEY=\"mock\"\n".write(toFile: environmentPath, atomically: true, encoding: .utf8)
        var environment = MockProviders.environment(adminToken: adminToken)
        environment["TOGETHER_API_KEY"] = nil
        let pelletd = try PelletdProcess.start(
            arguments: mocks.arguments + [
                "--catalogue", cataloguePath, "--env-file", environmentPath, "--discovery-interval", "off",
            ],
            environment: environment)
        let server = ["--server", pelletd.unixAddress]
        let admin = server + ["--admin-token", adminToken]

        let firstVersion = try policyVersion(admin)
        let created = try pelletctl(["account", "create", "--name", "Reload", "--email", "reload@example.com", "--json"] + admin)
        created.assertSucceeded()
        let accountID = try XCTUnwrap(try jsonObject(created.stdout)["id"] as? String)
        let key = try pelletctl(["key", "create", accountID, "--json"] + admin)
        let apiKey = try XCTUnwrap(try jsonObject(key.stdout)["api_key"] as? String)
        let completeArguments = ["complete", "Say hello.", "--max-tokens", "10", "--json"] + server

        // A call in flight on the first catalogue (the mock holds it for 2.5 s) ...
        let inFlight = try Subprocess(Binaries.pelletctl, completeArguments, environment: ["PELLET_API_KEY": apiKey])
        let deadline = ContinuousClock.now + .seconds(10)
        while together.stats.snapshot.inFlight == 0 {
            guard ContinuousClock.now < deadline else { return XCTFail("the call never reached the mock") }
            try await Task.sleep(for: .milliseconds(20))
        }
        // ... while the catalogue changes its prices and the model's provider id.
        try catalogue(providerModel: "fast", input: 3_000_000, output: 6_000_000).write(to: cataloguePath)
        let reload = try pelletctl(["catalogue", "reload"] + admin)
        reload.assertSucceeded()
        let secondVersion = try policyVersion(admin)
        XCTAssertNotEqual(secondVersion, firstVersion)
        XCTAssertEqual(
            reload.stdoutLines,
            [
                "catalogue reloaded: 1 models, policy_version \(firstVersion) → \(secondVersion)",
                "providers: fireworks, groq, together",
                "enabled:   fireworks, groq, together",
            ])
        XCTAssertEqual(together.stats.snapshot.inFlight, 1, "the first call is still in flight")

        let newCall = try pelletctl(completeArguments, environment: ["PELLET_API_KEY": apiKey])
        newCall.assertSucceeded()
        let newAnswer = try jsonObject(newCall.stdout)
        let oldResult = try inFlight.waitForExit()
        oldResult.assertSucceeded()
        let oldAnswer = try jsonObject(oldResult.stdout)
        // Each call is billed at the prices of the catalogue it started with.
        for (answer, input, output) in [(oldAnswer, 1, 2), (newAnswer, 3, 6)] {
            let prompt = try XCTUnwrap(answer["prompt_tokens"] as? Int)
            XCTAssertEqual(answer["completion_tokens"] as? Int, 10)
            XCTAssertEqual(answer["cost_micro_usd"] as? Int, prompt * input + 10 * output, "\(answer)")
        }
        XCTAssertGreaterThan(try XCTUnwrap(oldAnswer["latency_ms"] as? Int), 2_000)
        XCTAssertLessThan(try XCTUnwrap(newAnswer["latency_ms"] as? Int), 2_000, "the new call asked for \"fast\"")

        // A bad file is refused with its line and column; the running catalogue stays.
        try "{\n  \"schema_version\": 3,\n  \"prices_read\": \"2026-12-07\",\n  \"models\": [1,]\n}\n"
            .write(toFile: cataloguePath, atomically: true, encoding: .utf8)
        let refused = try pelletctl(["catalogue", "reload"] + admin)
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.stdout, "")
        XCTAssertTrue(
            refused.stderr.hasPrefix(
                "error: FAILED_PRECONDITION: the catalogue was not reloaded; the running one stays: \(cataloguePath):4:"),
            refused.stderr)
        XCTAssertEqual(try policyVersion(admin), secondVersion)
        // So is a bad key file.
        try catalogue(providerModel: "fast", input: 3_000_000, output: 6_000_000).write(to: cataloguePath)
        try "TOGETHER_API_KEY=mock\nGROQ API KEY=x\n".write(toFile: environmentPath, atomically: true, encoding: .utf8)
        let badKeys = try pelletctl(["catalogue", "reload"] + admin)
        XCTAssertEqual(
            badKeys.stderr,
            "error: FAILED_PRECONDITION: the catalogue was not reloaded; the running one stays: \(environmentPath):2:1: \"GROQ API KEY\" is not a variable name (letters, digits and '_', not starting with a digit)\n"
        )

        // SIGHUP does the same: a new price, a new policy_version.
        try "TOGETHER_API_KEY=mock\n".write(toFile: environmentPath, atomically: true, encoding: .utf8)
        try catalogue(providerModel: "fast", input: 4_000_000, output: 8_000_000).write(to: cataloguePath)
        try pelletd.waitUntilCatching(SIGHUP)
        pelletd.subprocess.signal(SIGHUP)
        let signalDeadline = ContinuousClock.now + .seconds(10)
        var thirdVersion = secondVersion
        while thirdVersion == secondVersion, ContinuousClock.now < signalDeadline {
            try await Task.sleep(for: .milliseconds(50))
            thirdVersion = try policyVersion(admin)
        }
        XCTAssertNotEqual(thirdVersion, secondVersion, "SIGHUP reloaded the catalogue")
        let afterSignal = try jsonObject(try pelletctl(completeArguments, environment: ["PELLET_API_KEY": apiKey]).stdout)
        let prompt = try XCTUnwrap(afterSignal["prompt_tokens"] as? Int)
        XCTAssertEqual(afterSignal["cost_micro_usd"] as? Int, prompt * 4 + 10 * 8)

        let log = try pelletd.stop().stderr
        XCTAssertTrue(log.contains("catalogue reloaded") && log.contains("trigger=SIGHUP"), log)
        XCTAssertTrue(log.contains("the catalogue was not reloaded; the running one stays"), log)
    }

    /// The policy_version of a Route decision now.
    private func policyVersion(_ admin: [String]) throws -> String {
        let route = try pelletctl(["route", "Say hello.", "--json"] + admin)
        route.assertSucceeded()
        return try XCTUnwrap(try jsonObject(route.stdout)["policy_version"] as? String)
    }
}
