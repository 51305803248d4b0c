import Foundation
import PelletLoadKit
import PelletTesting
import XCTest

/// The flags' checks: each bad value is refused with a message naming the flag.
final class LoadConfigurationTests: XCTestCase {
    private func options(
        _ target: String = "unix:/tmp/pellet.sock",
        _ change: (inout LoadConfiguration.Options) -> Void = { _ in }
    )
        -> LoadConfiguration.Options
    {
        var options = LoadConfiguration.Options(target: target)
        change(&options)
        return options
    }

    private func assertRefused(
        _ options: LoadConfiguration.Options,
        _ expected: String,
        file: StaticString = #filePath,
        line: UInt = #line
    ) {
        do {
            _ = try LoadConfiguration(options: options)
            XCTFail("expected a refusal containing \(expected)", file: file, line: line)
        } catch {
            XCTAssertTrue(
                error.description.contains(expected),
                "\"\(error.description)\" does not contain \"\(expected)\"",
                file: file,
                line: line
            )
        }
    }

    func testDefaults() throws {
        let configuration = try LoadConfiguration(options: options())
        XCTAssertEqual(configuration.method, .health)
        XCTAssertEqual(configuration.connections, 1)
        XCTAssertEqual(configuration.inFlight, 1)
        XCTAssertNil(configuration.rate)
        XCTAssertFalse(configuration.isOpenLoop)
        XCTAssertEqual(configuration.duration, .seconds(10))
        XCTAssertEqual(configuration.warmup, .seconds(1))
        XCTAssertEqual(configuration.model, "auto")
        XCTAssertEqual(configuration.preference, .balanced)
        XCTAssertEqual(configuration.maxTokens, 64)
        XCTAssertEqual(configuration.prompts, PromptCorpus.builtIn)
        XCTAssertGreaterThanOrEqual(PromptCorpus.builtIn.count, 10)
        XCTAssertEqual(configuration.target, .pellet(.unix(path: "/tmp/pellet.sock")))
    }

    func testFractionsAndZeroWarmup() throws {
        let configuration = try LoadConfiguration(
            options: options("tcp://127.0.0.1:7400") {
                $0.durationSeconds = 0.5
                $0.warmupSeconds = 0
                $0.rate = 2_500.5
                $0.preference = "latency"
            }
        )
        XCTAssertEqual(configuration.duration, .milliseconds(500))
        XCTAssertEqual(configuration.warmup, .zero)
        XCTAssertEqual(configuration.rate, 2_500.5)
        XCTAssertEqual(configuration.preference, .latency)
    }

    func testTheLeanClientTakesUnaryCallsOverUnixTCPAndHTTP() throws {
        XCTAssertEqual(try LoadConfiguration(options: options()).client, .nio)
        let lean = try LoadConfiguration(options: options("tcp://127.0.0.1:7000") { $0.client = "lean" })
        XCTAssertEqual(lean.client, .lean)
        assertRefused(options { $0.client = "fast" }, "--client \"fast\" is not one of nio|lean")
        assertRefused(options("tls://127.0.0.1:7000") { $0.client = "lean" }, "use the nio client for tls://")
        assertRefused(options { ($0.client, $0.method) = ("lean", "ping") }, "use the nio client for ping")
        assertRefused(
            options { ($0.client, $0.method, $0.apiKey) = ("lean", "complete-stream", "k") },
            "use the nio client for complete-stream")
        let http = try LoadConfiguration(
            options: options("http://127.0.0.1:8000") { ($0.client, $0.method) = ("lean", "complete") })
        XCTAssertEqual(http.client, .lean)
        assertRefused(
            options("http://127.0.0.1:8000") { ($0.client, $0.method) = ("lean", "complete-stream") },
            "use the nio client for complete-stream")
    }

    func testRateMustBePositive() {
        assertRefused(options { $0.rate = 0 }, "--rate must be a positive number of requests per second, not 0")
        assertRefused(options { $0.rate = -5 }, "--rate must be a positive number")
        assertRefused(options { $0.rate = .nan }, "--rate must be a positive number")
    }

    func testUnknownMethod() {
        assertRefused(
            options { $0.method = "stream" },
            "--method \"stream\" is not a method pellet-load knows; use one of "
                + "route|complete|complete-stream|usage|health|ping"
        )
    }

    func testHTTPTargetsServeOnlyCompletions() throws {
        for method in ["health", "route", "usage", "ping"] {
            assertRefused(
                options("http://127.0.0.1:9001") { $0.method = method },
                "--method \(method) cannot be sent to an http:// target"
            )
        }
        let configuration = try LoadConfiguration(options: options("http://127.0.0.1:9001") { $0.method = "complete" })
        XCTAssertEqual(configuration.target, .http(host: "127.0.0.1", port: 9001, path: "/v1/chat/completions"))
        let base = try LoadConfiguration(
            options: options("http://[::1]:9001/v1/") { $0.method = "complete-stream" }
        )
        XCTAssertEqual(base.target, .http(host: "::1", port: 9001, path: "/v1/chat/completions"))
        assertRefused(options("http://127.0.0.1") { $0.method = "complete" }, "is not a valid http://HOST:PORT address")
    }

    func testBadTargets() {
        assertRefused(options("127.0.0.1:7400"), "does not start with \"unix:\", \"tcp://\" or \"tls://\"")
        assertRefused(options("tcp://127.0.0.1:0"), "is not a number from 1 to 65535")
    }

    func testAPIKeyIsNeededByAuthenticatedMethods() throws {
        for method in ["route", "complete", "complete-stream", "usage"] {
            assertRefused(options { $0.method = method }, "--method \(method) needs an API key")
        }
        XCTAssertNoThrow(try LoadConfiguration(options: options { $0.method = "ping" }))
        XCTAssertNoThrow(
            try LoadConfiguration(
                options: options {
                    $0.method = "route"
                    $0.apiKey = "pk_x"
                }
            )
        )
    }

    func testCountsAndDurations() {
        assertRefused(options { $0.connections = 0 }, "--connections must be at least 1, not 0")
        assertRefused(options { $0.inFlight = -1 }, "--in-flight must be at least 1, not -1")
        assertRefused(
            options {
                $0.connections = 1_000
                $0.inFlight = 1_000
            },
            "--connections × --in-flight must be at most"
        )
        assertRefused(options { $0.durationSeconds = 0 }, "--duration must be a number of seconds above 0")
        assertRefused(options { $0.warmupSeconds = -1 }, "--warmup must be a number of seconds from 0")
        assertRefused(options { $0.maxTokens = 0 }, "--max-tokens must be from 1")
        assertRefused(
            options { $0.preference = "fast" },
            "--preference \"fast\" is not one of cost|quality|latency|balanced"
        )
        assertRefused(options { $0.drainSeconds = -1 }, "--drain must be")
    }

    func testPromptsFromJSONLines() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("prompts.jsonl")
        let lines = """
            {"prompt": "Translate good morning into German", "task": "translation"}

            {"id": 7, "prompt": "What is 17 * 23?"}
            """
        try Data(lines.utf8).write(to: URL(fileURLWithPath: path))
        let configuration = try LoadConfiguration(options: options { $0.promptsFile = path })
        XCTAssertEqual(configuration.prompts, ["Translate good morning into German", "What is 17 * 23?"])

        let bad = directory.file("bad.jsonl")
        try Data("{\"prompt\": \"ok\"}\n{\"text\": \"no prompt key\"}\n".utf8).write(to: URL(fileURLWithPath: bad))
        assertRefused(options { $0.promptsFile = bad }, "--prompts \(bad), line 2: no \"prompt\" string")

        let notJSON = directory.file("not.jsonl")
        try Data("prompt: hello\n".utf8).write(to: URL(fileURLWithPath: notJSON))
        assertRefused(options { $0.promptsFile = notJSON }, "line 1: not a JSON object")

        let empty = directory.file("empty.jsonl")
        try Data("\n\n".utf8).write(to: URL(fileURLWithPath: empty))
        assertRefused(options { $0.promptsFile = empty }, "holds no prompts")

        assertRefused(options { $0.promptsFile = directory.file("missing.jsonl") }, "cannot be read")
    }
}
