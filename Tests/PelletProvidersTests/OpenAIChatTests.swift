import Foundation
import PelletProviders
import PelletTesting
import PelletWire
import XCTest

final class OpenAIChatTests: XCTestCase {
    static let messages = [
        ChatMessage(role: "system", content: "Be brief."),
        ChatMessage(role: "user", content: "Say \"hi\"\n\tthen stop\\ \u{1} caf\u{e9} \u{1F600}"),
    ]

    func testTheRequestBodyIsExactJSON() {
        let chat = ChatRequest(
            model: "openai/gpt-oss-120b", messages: Self.messages, maxTokens: 64,
            temperature: 0.7, topP: 0.9, stop: ["\n\n", "", "END"])
        let expected =
            #"{"model":"openai/gpt-oss-120b","messages":[{"role":"system","content":"Be brief."},"#
            + #"{"role":"user","content":"Say \"hi\"\n\tthen stop\\ \u0001 café 😀"}],"#
            + #""max_tokens":64,"temperature":0.7,"top_p":0.9,"stop":["\n\n","END"]}"#
        XCTAssertEqual(String(decoding: OpenAIChat.requestBody(for: chat), as: UTF8.self), expected)
    }

    /// Escapes at the very start and end, next to each other and between long plain runs, every
    /// control character, and text that is not ASCII: the body reads back as the same text.
    func testEveryContentReadsBackAsTheSameText() throws {
        var generator = SeededGenerator(state: 17)
        let pieces = ["\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "😀", "plain text ", "/", "{}[],:"]
        var contents = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) } + ["", "\"\"", "\\\n\\"]
        for _ in 0..<200 {
            contents.append((0..<Int.random(in: 1...12, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined())
        }
        for content in contents {
            let chat = ChatRequest(model: "m", messages: [ChatMessage(role: "user", content: content)])
            let body = OpenAIChat.requestBody(for: chat)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            let messages = try XCTUnwrap(object["messages"] as? [[String: Any]])
            XCTAssertEqual(messages.first?["content"] as? String, content, String(decoding: body, as: UTF8.self))
        }
    }

    func testAStreamedRequestAsksForUsage() {
        let chat = ChatRequest(model: "m", messages: [ChatMessage(role: "user", content: "x")], stream: true)
        let expected =
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"#
            + #""stream":true,"stream_options":{"include_usage":true}}"#
        XCTAssertEqual(String(decoding: OpenAIChat.requestBody(for: chat), as: UTF8.self), expected)
    }

    func testUnsetNonFiniteAndEmptySettingsAreLeftOut() {
        let chat = ChatRequest(
            model: "m", messages: [], maxTokens: 0, temperature: .nan, topP: .infinity, stop: [""])
        XCTAssertEqual(
            String(decoding: OpenAIChat.requestBody(for: chat), as: UTF8.self), #"{"model":"m","messages":[]}"#)
    }

    /// Greedy decoding: a temperature of 0 is a value the caller chose, not "unset".
    func testZeroTemperatureAndTopPAreSent() {
        let chat = ChatRequest(model: "m", messages: [], temperature: 0, topP: 0)
        XCTAssertEqual(
            String(decoding: OpenAIChat.requestBody(for: chat), as: UTF8.self),
            #"{"model":"m","messages":[],"temperature":0.0,"top_p":0.0}"#)
    }

    func testTheRequestBodyIsValidJSONThatReadsBackTheSameText() throws {
        let chat = ChatRequest(model: "m", messages: Self.messages, temperature: 1.25)
        let object = try JSONSerialization.jsonObject(with: Data(OpenAIChat.requestBody(for: chat))) as? [String: Any]
        let messages = object?["messages"] as? [[String: String]]
        XCTAssertEqual(messages?.map { $0["content"] }, Self.messages.map(\.content))
        XCTAssertEqual(object?["temperature"] as? Double, 1.25)
    }

    func testTheHTTPRequest() {
        let provider = ProviderConfiguration(name: .groq, apiKey: APIKey("gsk-secret"))
        let chat = ChatRequest(model: "openai/gpt-oss-20b", messages: Self.messages, stream: true)
        let request = OpenAIChat.httpRequest(
            for: chat, provider: provider, timeout: .seconds(3), firstTokenTimeout: .seconds(1),
            idleTimeout: .milliseconds(500))
        XCTAssertEqual(request.method, .post)
        XCTAssertEqual(request.url, "https://api.groq.com/openai/v1/chat/completions")
        XCTAssertEqual(request.headers["authorization"], "Bearer gsk-secret")
        XCTAssertEqual(request.headers["content-type"], "application/json")
        XCTAssertEqual(request.headers["accept"], "text/event-stream")
        XCTAssertEqual(request.timeout, .seconds(3))
        XCTAssertEqual(request.firstByteTimeout, .seconds(1))
        XCTAssertEqual(request.idleTimeout, .milliseconds(500))
        XCTAssertEqual(request.body, OpenAIChat.requestBody(for: chat))
        XCTAssertFalse("\(request.headers)".contains("secret"), "headers print their names only")

        // The stream timers only apply to streams.
        var unary = chat
        unary.stream = false
        let unaryRequest = OpenAIChat.httpRequest(
            for: unary, provider: provider, timeout: .seconds(3), firstTokenTimeout: .seconds(1),
            idleTimeout: .milliseconds(500))
        XCTAssertNil(unaryRequest.firstByteTimeout)
        XCTAssertNil(unaryRequest.idleTimeout)
    }

    // MARK: - Responses

    func testDecodingACompletion() throws {
        let body = #"""
            {"id":"c1","object":"chat.completion","model":"llama","choices":[{"index":0,
            "message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}
            """#
        let completion = try OpenAIChat.decodeCompletion(Array(body.utf8))
        XCTAssertEqual(
            completion,
            ChatCompletion(
                content: "Hello there", finishReason: "stop",
                usage: TokenUsage(promptTokens: 12, completionTokens: 3), model: "llama"))
    }

    func testACompletionWithoutUsageOrContent() throws {
        let body = #"{"choices":[{"message":{"role":"assistant","content":null},"finish_reason":"length"}]}"#
        let completion = try OpenAIChat.decodeCompletion(Array(body.utf8))
        XCTAssertEqual(completion, ChatCompletion(content: "", finishReason: "length", usage: nil))
    }

    func testGroqUsageInItsExtension() throws {
        let body =
            #"{"choices":[{"delta":{},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":5,"completion_tokens":9}}}"#
        let chunk = try OpenAIChat.decodeChunk(Array(body.utf8))
        XCTAssertEqual(chunk.usage, TokenUsage(promptTokens: 5, completionTokens: 9))
        XCTAssertEqual(chunk.finishReason, "stop")
        XCTAssertEqual(chunk.delta, "")
    }

    func testMalformedCompletions() {
        for body in ["", "{", "not json", #"{"choices":[]}"#, #"{"object":"chat.completion"}"#, #"{"choices":"x"}"#] {
            XCTAssertThrowsError(try OpenAIChat.decodeCompletion(Array(body.utf8)), body) { error in
                XCTAssertEqual((error as? ProviderFailure)?.kind, .malformedResponse, body)
            }
        }
    }

    func testAnErrorObjectInA200IsAProviderError() {
        let body = #"{"error":{"message":"overloaded","type":"server_error"}}"#
        XCTAssertThrowsError(try OpenAIChat.decodeCompletion(Array(body.utf8))) { error in
            XCTAssertEqual((error as? ProviderFailure)?.kind, .providerError)
        }
        XCTAssertThrowsError(try OpenAIChat.decodeChunk(Array(body.utf8))) { error in
            XCTAssertEqual((error as? ProviderFailure)?.kind, .providerError)
        }
    }

    func testDecodingStreamChunks() throws {
        let role = try OpenAIChat.decodeChunk(
            Array(#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#.utf8))
        XCTAssertEqual(role, ChatStreamChunk(delta: ""))
        let text = try OpenAIChat.decodeChunk(
            Array(#"{"model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#.utf8))
        XCTAssertEqual(text, ChatStreamChunk(delta: "Hel", model: "m"))
        let usage = try OpenAIChat.decodeChunk(
            Array(#"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2}}"#.utf8))
        XCTAssertEqual(usage, ChatStreamChunk(delta: "", usage: TokenUsage(promptTokens: 4, completionTokens: 2)))
        XCTAssertThrowsError(try OpenAIChat.decodeChunk(Array(#"{"choices":[{"delta":{"content":"#.utf8)))
    }

    func testErrorMessages() {
        XCTAssertEqual(
            OpenAIChat.errorMessage(in: Array(#"{"error":{"message":"max_tokens is too large","code":400}}"#.utf8)),
            "max_tokens is too large")
        XCTAssertEqual(OpenAIChat.errorMessage(in: Array(#"{"error":"bad model"}"#.utf8)), "bad model")
        XCTAssertEqual(OpenAIChat.errorMessage(in: Array(#"{"message":"nope"}"#.utf8)), "nope")
        XCTAssertNil(OpenAIChat.errorMessage(in: Array("<html>oops</html>".utf8)))
        let long = OpenAIChat.errorMessage(
            in: Array(("{\"error\":\"" + String(repeating: "a", count: 1000) + "\"}").utf8))
        XCTAssertEqual(long?.count, 301)
    }
}
