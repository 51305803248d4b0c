import PelletProviders
import PelletWire
import XCTest

final class ProviderConfigurationTests: XCTestCase {
    func testKeysComeFromTheEnvironmentAndAMissingKeyDisables() {
        let configurations = ProviderConfiguration.fromEnvironment([
            "TOGETHER_API_KEY": "tg-secret-1", "GROQ_API_KEY": "", "UNRELATED": "x",
        ])
        XCTAssertEqual(configurations.map(\.name), [.fireworks, .groq, .together])
        XCTAssertEqual(configurations.map(\.isEnabled), [false, false, true])
        XCTAssertEqual(configurations[2].baseURL, "https://api.together.ai/v1")
        XCTAssertEqual(configurations[0].chatCompletionsURL, "https://api.fireworks.ai/inference/v1/chat/completions")
        XCTAssertEqual(configurations[1].chatCompletionsURL, "https://api.groq.com/openai/v1/chat/completions")
    }

    func testOverridesReplaceTheBaseURL() throws {
        let overrides = try ["groq=http://127.0.0.1:9001/v1/", "GROQ=http://127.0.0.1:9002/v1"].map {
            try ProviderURLOverride(parsing: $0)
        }
        let configurations = ProviderConfiguration.fromEnvironment(["GROQ_API_KEY": "k"], overrides: overrides)
        let groq = try XCTUnwrap(configurations.first { $0.name == .groq })
        XCTAssertEqual(groq.chatCompletionsURL, "http://127.0.0.1:9002/v1/chat/completions", "the last one wins")
        XCTAssertEqual(overrides[0].description, "groq=http://127.0.0.1:9001/v1/")
        XCTAssertEqual(
            ProviderConfiguration(name: .groq, baseURL: "http://h/v1///", apiKey: nil).baseURL, "http://h/v1")
    }

    /// Providers a catalogue defines: a key from their own variable, or none at all.
    func testDefinedEndpointsTakeTheirKeysAndOverrides() throws {
        let local = try XCTUnwrap(ProviderName(rawValue: "local-vllm"))
        let corp = try XCTUnwrap(ProviderName(rawValue: "corp"))
        let endpoints = ProviderEndpoint.builtIn + [
            ProviderEndpoint(name: local, defaultBaseURL: "http://10.0.0.5:8000/v1/", apiKeyEnvironmentVariable: nil),
            ProviderEndpoint(name: corp, defaultBaseURL: "https://llm.corp/v1", apiKeyEnvironmentVariable: "CORP_KEY"),
        ]
        let overrides = [try ProviderURLOverride(parsing: "local-vllm=http://127.0.0.1:9/v1")]
        let configurations = ProviderConfiguration.fromEnvironment(
            ["GROQ_API_KEY": "g"], endpoints: endpoints, overrides: overrides)
        XCTAssertEqual(configurations.map(\.name.rawValue), ["corp", "fireworks", "groq", "local-vllm", "together"])
        XCTAssertEqual(configurations.map(\.isEnabled), [false, false, true, true, false])
        XCTAssertEqual(
            configurations.map(\.description),
            [
                "corp https://llm.corp/v1 (disabled: CORP_KEY is not set)",
                "fireworks https://api.fireworks.ai/inference/v1 (disabled: FIREWORKS_API_KEY is not set)",
                "groq https://api.groq.com/openai/v1 (key set)",
                "local-vllm http://127.0.0.1:9/v1 (no key needed)",
                "together https://api.together.ai/v1 (disabled: TOGETHER_API_KEY is not set)",
            ])
        XCTAssertEqual(
            ProviderConfiguration.unknownNames(
                in: overrides + [try ProviderURLOverride(parsing: "ollama=http://h/v1")], endpoints: endpoints
            ).map(\.rawValue),
            ["ollama"])
    }

    func testBadOverridesSayWhatIsWrong() {
        let cases = [
            ("groq", "expected NAME=URL, got 'groq'"),
            // Any well-formed name parses: the catalogue may define the provider (pelletd checks).
            ("Open AI=https://api.openai.com/v1", "'Open AI' is not a provider name (lower-case letters, digits, '-', '_' and '.')"),
            ("groq=ftp://x", "the URL for groq must start with http:// or https://, got 'ftp://x'"),
            ("groq=http://", "the URL for groq must start with http:// or https://, got 'http://'"),
        ]
        for (argument, message) in cases {
            XCTAssertThrowsError(try ProviderURLOverride(parsing: argument), argument) { error in
                XCTAssertEqual("\(error)", message)
            }
        }
    }

    func testKeysNeverPrint() {
        let configuration = ProviderConfiguration(name: .together, apiKey: APIKey("tg-secret-1"))
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in [
            "\(configuration)", String(reflecting: configuration), dumped, "\(configuration.apiKey!)",
            String(reflecting: configuration.apiKey!), "\([configuration])",
        ] {
            XCTAssertFalse(text.contains("secret"), text)
        }
        XCTAssertEqual("\(configuration)", "together https://api.together.ai/v1 (key set)")
        XCTAssertEqual(
            "\(ProviderConfiguration(name: .groq, apiKey: nil))",
            "groq https://api.groq.com/openai/v1 (disabled: GROQ_API_KEY is not set)")
    }
}
