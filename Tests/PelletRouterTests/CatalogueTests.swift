import Foundation
import PelletRouter
import XCTest
import PelletWire

final class CatalogueTests: XCTestCase {
    func testBundledCatalogueLoadsAndCoversEveryTask() throws {
        let catalogue = try Catalogue.loadBundled()
        XCTAssertGreaterThanOrEqual(catalogue.models.count, 10)
        XCTAssertEqual(catalogue.pricesRead, "2026-12-07")
        XCTAssertFalse(catalogue.notes.isEmpty)
        XCTAssertEqual(catalogue.fingerprint.count, 16)
        XCTAssertEqual(catalogue.providers, ProviderName.builtIn)
        XCTAssertEqual(catalogue.providerDefinitions, [])
        for provider in ProviderName.builtIn {
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
        XCTAssertEqual(Set(big.offers.map(\.provider)), Set(ProviderName.builtIn))
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
            text.replacingOccurrences(of: "\"schema_version\": 2", with: "\"schema_version\": 4"),
            line: 2,
            column: 21,
            reason: "unsupported schema_version 4; this Pellet reads versions 1 to 3"
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
            reason:
                "model \"m1\": unknown provider \"azure\" (expected one of fireworks, groq, together; a further provider is defined in \"providers\")"
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

    /// Schema 3's `providers`: a provider defined there may serve models, with or without a key.
    func testTheCatalogueMayDefineFurtherProviders() throws {
        let text = withProviders(
            #"[{"name": "local-vllm", "base_url": "http://10.0.0.5:8000/v1/"}, {"name": "corp-sglang", "base_url": "https://llm.corp/v1", "api_key_env": "CORP_LLM_KEY"}]"#,
            offeredBy: "local-vllm")
        let catalogue = try Catalogue(data: Array(text.utf8))
        XCTAssertEqual(catalogue.providers.map(\.rawValue), ["corp-sglang", "fireworks", "groq", "local-vllm", "together"])
        XCTAssertEqual(
            catalogue.providerDefinitions,
            [
                CatalogueProvider(
                    name: try XCTUnwrap(ProviderName(rawValue: "local-vllm")), baseURL: "http://10.0.0.5:8000/v1/",
                    apiKeyEnvironmentVariable: nil),
                CatalogueProvider(
                    name: try XCTUnwrap(ProviderName(rawValue: "corp-sglang")), baseURL: "https://llm.corp/v1",
                    apiKeyEnvironmentVariable: "CORP_LLM_KEY"),
            ])
        XCTAssertEqual(catalogue.model(id: "m1")?.offers.first?.provider.rawValue, "local-vllm")
        XCTAssertEqual(catalogue.provider(named: "local-vllm")?.rawValue, "local-vllm")
        XCTAssertNil(catalogue.provider(named: "ollama"))
    }

    func testBadProviderDefinitionsAreRefusedWithTheirPlace() {
        let cases: [(providers: String, marker: String, reason: String)] = [
            (
                #"[{"name": "Local VLLM", "base_url": "http://h/v1"}]"#, #""Local VLLM""#,
                "provider name \"Local VLLM\" must be 1 to 64 lower-case letters, digits, '-', '_' and '.', starting with a letter or digit"
            ),
            (
                #"[{"name": "groq", "base_url": "http://h/v1"}]"#, #""groq", "base"#,
                "provider \"groq\" is built in; point it elsewhere with pelletd --provider-url groq=URL"
            ),
            (
                #"[{"name": "local-vllm", "base_url": "h:8000"}]"#, #""h:8000""#,
                "provider \"local-vllm\": base_url must start with http:// or https://, got \"h:8000\""
            ),
            (
                #"[{"name": "local-vllm", "base_url": "http://h/v1", "api_key_env": "my key"}]"#, #""my key""#,
                "provider \"local-vllm\": api_key_env must be an environment variable name (A-Z, 0-9, _), got \"my key\""
            ),
            (
                #"[{"name": "local-vllm", "base_url": "http://h/v1"}, {"name": "local-vllm", "base_url": "http://g/v1"}]"#,
                #""local-vllm", "base_url": "http://g"#, "provider \"local-vllm\" is defined twice"
            ),
        ]
        for (providers, marker, reason) in cases {
            let text = withProviders(providers, offeredBy: "groq")
            let (line, column) = position(of: marker, in: text)
            assertRefused(text, line: line, column: column, reason: reason)
        }
        // Only schema 3 has providers: an older reader would have ignored them silently.
        let old = withProviders(#"[{"name": "local-vllm", "base_url": "http://h/v1"}]"#, offeredBy: "groq", version: 2)
        let (line, column) = position(of: "[{\"name\": \"local-vllm\"", in: old)
        assertRefused(old, line: line, column: column, reason: "\"providers\" needs schema_version 3 (this file says 2)")
    }

    /// `catalogue(provider:)` at `version` with a top-level `providers` member.
    private func withProviders(_ providers: String, offeredBy provider: String, version: Int = 3) -> String {
        catalogue(provider: provider)
            .replacingOccurrences(of: "\"schema_version\": 1,", with: "\"schema_version\": \(version),")
            .replacingOccurrences(
                of: "\"price_sources\": [\"https://groq.com/pricing\"]",
                with: "\"price_sources\": [\"https://groq.com/pricing\"],\n  \"providers\": \(providers)")
    }

    /// 1-based line and column of the first `marker` in `text`.
    private func position(of marker: String, in text: String) -> (line: Int, column: Int) {
        guard let range = text.range(of: marker) else { return (0, 0) }
        let before = text[..<range.lowerBound]
        let line = before.filter { $0 == "\n" }.count + 1
        let column = before.count - (before.lastIndex(of: "\n").map { before.distance(from: before.startIndex, to: $0) + 1 } ?? 0) + 1
        return (line, column)
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
