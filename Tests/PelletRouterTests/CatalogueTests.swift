import Foundation
import PelletRouter
import XCTest

final class CatalogueTests: XCTestCase {
    func testBundledCatalogueLoadsAndCoversEveryTask() throws {
        let catalogue = try Catalogue.loadBundled()
        XCTAssertGreaterThanOrEqual(catalogue.models.count, 10)
        XCTAssertEqual(catalogue.pricesRead, "2026-12-07")
        XCTAssertFalse(catalogue.notes.isEmpty)
        XCTAssertEqual(catalogue.fingerprint.count, 16)
        for provider in ProviderName.allCases {
            XCTAssertTrue(catalogue.models.contains { $0.offer(on: provider) != nil }, "\(provider) serves nothing")
        }
        let policy = RoutingPolicy()
        for task in TaskType.allCases {
            // A hard task of every type has at least one model that meets its floor.
            XCTAssertTrue(
                catalogue.models.contains { $0.quality(for: task).score >= policy.floor(for: .hard) },
                "no model meets the hard floor for \(task)"
            )
        }
        for model in catalogue.models {
            XCTAssertFalse(model.offers.isEmpty)
            for task in TaskType.allCases {
                let quality = model.quality(for: task)
                XCTAssertTrue(quality.url.hasPrefix("https://"), "\(model.id) \(task)")
                XCTAssertFalse(quality.source.isEmpty)
            }
        }
        XCTAssertEqual(catalogue.model(id: "gpt-oss-20b")?.offer(on: .groq)?.providerModel, "openai/gpt-oss-20b")
        XCTAssertNil(catalogue.model(id: "gpt-4o"))
        // Models retired by every provider in 2026 are gone.
        XCTAssertNil(catalogue.model(id: "llama-3.1-8b-instruct"))
        XCTAssertNil(catalogue.model(id: "qwen3-32b"))
    }

    /// The figures issue 13 found wrong in the previous catalogue, and the fields it added.
    func testCurrentFiguresOfTheBundledCatalogue() throws {
        let catalogue = try Catalogue.loadBundled()
        let big = try XCTUnwrap(catalogue.model(id: "gpt-oss-120b"))
        // The only model all three providers serve.
        XCTAssertEqual(Set(big.offers.map(\.provider)), Set(ProviderName.allCases))
        XCTAssertEqual(catalogue.models.filter { $0.offers.count == 3 }.map(\.id), ["gpt-oss-120b"])
        XCTAssertEqual(big.offer(on: .groq)?.outputMicroUSDPerMillionTokens, 600_000)
        XCTAssertEqual(big.offer(on: .groq)?.cachedInputMicroUSDPerMillionTokens, 75_000)
        XCTAssertEqual(big.offer(on: .fireworks)?.cachedInputMicroUSDPerMillionTokens, 15_000)
        XCTAssertNil(big.offer(on: .together)?.cachedInputMicroUSDPerMillionTokens)
        XCTAssertEqual(big.offer(on: .together)?.contextWindow, 128_000)
        XCTAssertEqual(big.contextWindow, 128_000)
        XCTAssertTrue(big.reasoning)
        let small = try XCTUnwrap(catalogue.model(id: "gpt-oss-20b")?.offer(on: .groq))
        XCTAssertEqual(small.inputMicroUSDPerMillionTokens, 75_000)
        XCTAssertEqual(small.outputMicroUSDPerMillionTokens, 300_000)
        XCTAssertFalse(try XCTUnwrap(catalogue.model(id: "llama-3.3-70b")).reasoning)
        // Every model a second provider serves has that provider as its fallback.
        XCTAssertGreaterThanOrEqual(catalogue.models.filter { $0.offers.count >= 2 }.count, 8)
    }

    func testSchemaVersionTwoFieldsDecode() throws {
        let text = catalogue()
            .replacingOccurrences(of: "\"schema_version\": 1", with: "\"schema_version\": 2")
            .replacingOccurrences(of: "\"id\": \"m1\",", with: "\"id\": \"m1\", \"reasoning\": true,")
            .replacingOccurrences(
                of: "\"ttft_ms\": 150,",
                with: "\"ttft_ms\": 150, \"cached_input_micro_usd_per_mtok\": 25000, \"context_window\": 4096,"
            )
        let decoded = try Catalogue(data: Array(text.utf8))
        let model = try XCTUnwrap(decoded.model(id: "m1"))
        XCTAssertTrue(model.reasoning)
        XCTAssertEqual(model.offers[0].cachedInputMicroUSDPerMillionTokens, 25_000)
        XCTAssertEqual(model.offers[0].contextWindow, 4096)
        XCTAssertFalse(try XCTUnwrap(decoded.model(id: "m2")).reasoning)
        XCTAssertNil(decoded.model(id: "m2")?.offers[0].cachedInputMicroUSDPerMillionTokens)

        assertRefused(
            text.replacingOccurrences(of: "\"reasoning\": true", with: "\"reasoning\": \"yes\""),
            line: 6,
            column: 32,
            reason: "model \"m1\": \"reasoning\" must be true or false, found a string"
        )
        assertRefused(
            text.replacingOccurrences(of: "\"cached_input_micro_usd_per_mtok\": 25000", with: "\"cached_input_micro_usd_per_mtok\": 0"),
            line: 14,
            column: 60,
            reason: "model \"m1\" on groq: \"cached_input_micro_usd_per_mtok\" must be a positive integer, found 0"
        )
        assertRefused(
            text.replacingOccurrences(of: "\"schema_version\": 2", with: "\"schema_version\": 3"),
            line: 2,
            column: 21,
            reason: "unsupported schema_version 3; this Pellet reads versions 1 and 2"
        )
    }

    func testSyntaxErrorsNameLineAndColumn() {
        assertRefused(
            "{\n  \"schema_version\": 1,\n  \"models\": [,]\n}",
            line: 3,
            column: 14,
            reason: "unexpected ','; expected a value"
        )
        assertRefused(
            "{\n  \"a\": 1\n  \"b\": 2\n}",
            line: 3,
            column: 3,
            reason: "unexpected '\"'; expected ',' or '}' in an object"
        )
        assertRefused("{\"a\": [1, 2}", line: 1, column: 12, reason: "unexpected '}'; expected ',' or ']' in an array")
        assertRefused("{\"a\": \"open", line: 1, column: 7, reason: "unterminated string")
        assertRefused("{\"a\": 01}", line: 1, column: 7, reason: "invalid number: leading zero")
        assertRefused("{\"a\": tru}", line: 1, column: 7, reason: "invalid literal; expected 'true'")
        assertRefused("{\"a\": 1, \"a\": 2}", line: 1, column: 10, reason: "duplicate key \"a\"")
        assertRefused("{} x", line: 1, column: 4, reason: "unexpected 'x' after the end of the JSON document")
        assertRefused("  ", line: 1, column: 3, reason: "the file is empty; expected a JSON object")
        // Columns count characters, not bytes.
        assertRefused("{\"é\": ]}", line: 1, column: 7, reason: "unexpected ']'; expected a value")
    }

    func testSemanticErrorsNameTheModelAndLine() {
        assertRefused(
            catalogue(provider: "azure"),
            line: 10,
            column: 21,
            reason: "model \"m1\": unknown provider \"azure\" (expected one of together, fireworks, groq)"
        )
        assertRefused(
            catalogue(inputPrice: "-5"),
            line: 12,
            column: 37,
            reason: "model \"m1\" on groq: \"input_micro_usd_per_mtok\" must be a positive integer, found -5"
        )
        assertRefused(
            catalogue(inputPrice: "0"),
            line: 12,
            column: 37,
            reason: "model \"m1\" on groq: \"input_micro_usd_per_mtok\" must be a positive integer, found 0"
        )
        assertRefused(
            catalogue(inputPrice: "0.5"),
            line: 12,
            column: 37,
            reason: "model \"m1\" on groq: \"input_micro_usd_per_mtok\" must be a positive integer, found 0.5"
        )
        assertRefused(
            catalogue(task: "poetry"),
            line: 21,
            column: 7,
            reason:
                "model \"m1\": unknown task type \"poetry\" in quality (expected one of code, math, reasoning, extraction, summarization, translation, classification, creative, qa, chat)"
        )
        assertRefused(
            catalogue(providers: "[]"),
            line: 8,
            column: 20,
            reason: "model \"m1\" lists no provider; a model no provider serves has no place in the catalogue"
        )
        assertRefused(
            catalogue(secondID: "m1"),
            line: 33,
            column: 5,
            reason: "duplicate model id \"m1\" (first defined at line 5)"
        )
        assertRefused(
            catalogue(contextWindow: "\"big\""),
            line: 7,
            column: 25,
            reason: "model \"m1\": \"context_window\" must be a positive integer, found \"big\""
        )
        assertRefused(
            catalogue(score: "1.5"),
            line: 21,
            column: 25,
            reason: "model \"m1\" quality \"code\": score must be in (0, 1], got 1.5"
        )
        assertRefused(
            catalogue(dropTask: true),
            line: 20,
            column: 18,
            reason: "model \"m1\": no quality score for task type \"chat\""
        )
        XCTAssertNoThrow(try Catalogue(data: Array(catalogue().utf8)))
    }

    func testUnreadableFileIsRefusedWithItsPath() {
        XCTAssertThrowsError(try Catalogue(contentsOf: "/nonexistent/catalogue.json")) { error in
            let refusal = error as? CatalogueError
            XCTAssertEqual(refusal?.line, 0)
            XCTAssertTrue(refusal?.reason.contains("/nonexistent/catalogue.json") ?? false)
        }
    }

    func testFingerprintFollowsTheBytes() throws {
        let a = try Catalogue(data: Array(catalogue().utf8))
        let b = try Catalogue(data: Array(catalogue().utf8))
        let c = try Catalogue(data: Array(catalogue(inputPrice: "60000").utf8))
        XCTAssertEqual(a.fingerprint, b.fingerprint)
        XCTAssertNotEqual(a.fingerprint, c.fingerprint)
    }

    private func assertRefused(
        _ text: String,
        line: Int,
        column: Int,
        reason: String,
        file: StaticString = #filePath,
        lineNumber: UInt = #line
    ) {
        XCTAssertThrowsError(try Catalogue(data: Array(text.utf8)), file: file, line: lineNumber) { error in
            XCTAssertEqual(
                error as? CatalogueError,
                CatalogueError(line: line, column: column, reason: reason),
                file: file,
                line: lineNumber
            )
        }
    }

    /// A small valid catalogue with one thing changed; line numbers in the tests refer to it.
    private func catalogue(
        provider: String = "groq",
        inputPrice: String = "50000",
        task: String = "code",
        providers: String? = nil,
        secondID: String = "m2",
        contextWindow: String = "8192",
        score: String = "0.8",
        dropTask: Bool = false
    ) -> String {
        let offers =
            providers ?? """
                [
                      {
                        "provider": "\(provider)",
                        "model": "m1-instant",
                        "input_micro_usd_per_mtok": \(inputPrice),
                        "output_micro_usd_per_mtok": 80000,
                        "ttft_ms": 150,
                        "output_tokens_per_s": 750,
                        "price_source": "https://groq.com/pricing"
                      }
                    ]
                """
        let otherTasks = TaskType.allCases.dropFirst().filter { !dropTask || $0 != .chat }.map { task in
            "      \"\(task)\": {\"score\": 0.5, \"benchmark\": \"MMLU\", \"value\": 70, \"source\": \"card\", \"url\": \"https://example.com\", \"basis\": \"published\"}"
        }
        return """
            {
              "schema_version": 1,
              "prices_read": "2026-11-28",
              "models": [
                {
                  "id": "m1",
                  "context_window": \(contextWindow),
                  "providers": \(offers),
                  "name": "Model One",
                  "quality": {
                  "\(task)": {"score": \(score), "benchmark": "HumanEval", "value": 70, "source": "card", "url": "https://example.com", "basis": "published"},
            \(otherTasks.joined(separator: ",\n"))
                  }
                },
                {
                  "id": "\(secondID)",
                  "name": "Model Two",
                  "context_window": 8192,
                  "providers": [{"provider": "together", "model": "m2", "input_micro_usd_per_mtok": 1, "output_micro_usd_per_mtok": 1, "ttft_ms": 1, "output_tokens_per_s": 1, "price_source": "https://www.together.ai/pricing"}],
                  "quality": {\(TaskType.allCases.map { "\"\($0)\": {\"score\": 0.5, \"benchmark\": \"b\", \"value\": null, \"source\": \"s\", \"url\": \"https://example.com\", \"basis\": \"estimate\"}" }.joined(separator: ", "))}
                }
              ],
              "price_sources": ["https://groq.com/pricing"]
            }
            """
    }
}
