import Foundation
import PelletWire

/// The OpenAI-compatible chat completions API that Together AI, Fireworks and Groq serve:
/// building the request and decoding responses and stream chunks.
///
/// Nothing here logs: prompts and completions pass through in memory only.
public enum OpenAIChat {
    /// `POST {base}/chat/completions` for `chat`, to `provider`.
    ///
    /// - Parameters:
    ///   - timeout: the call's remaining deadline (the whole transfer's limit).
    ///   - firstTokenTimeout: for streams, the longest wait for the first event.
    ///   - idleTimeout: for streams, the longest gap between events.
    public static func httpRequest(
        for chat: ChatRequest,
        provider: ProviderConfiguration,
        timeout: Duration,
        firstTokenTimeout: Duration? = nil,
        idleTimeout: Duration? = nil
    ) -> HTTPRequest {
        // Built whole, in order: one array rather than one grown field by field, per call.
        let accept = chat.stream ? "text/event-stream" : "application/json"
        let headers: HTTPHeaders
        if let key = provider.apiKey {
            headers = [("Content-Type", "application/json"), ("Authorization", "Bearer " + key.value), ("Accept", accept)]
        } else {
            headers = [("Content-Type", "application/json"), ("Accept", accept)]
        }
        return HTTPRequest(
            method: .post,
            url: provider.chatCompletionsURL,
            headers: headers,
            body: requestBody(for: chat),
            timeout: timeout,
            firstByteTimeout: chat.stream ? firstTokenTimeout : nil,
            idleTimeout: chat.stream ? idleTimeout : nil
        )
    }

    /// The JSON body: `model`, `messages`, then `max_tokens`, `temperature`, `top_p` and `stop`
    /// when set (unset, non-finite and empty values are left to the provider's defaults; a
    /// temperature or top_p of 0 is a value and is sent), then
    /// for a stream `"stream":true,"stream_options":{"include_usage":true}`.
    public static func requestBody(for chat: ChatRequest) -> [UInt8] {
        let textBytes = chat.messages.reduce(0) { $0 + $1.content.utf8.count + $1.role.utf8.count + 32 }
        var json = JSONWriter(capacity: textBytes + chat.model.utf8.count + 160)
        json.beginObject()
        json.key("model")
        json.string(chat.model)
        json.key("messages")
        json.beginArray()
        for message in chat.messages {
            json.beginObject()
            json.key("role")
            json.string(message.role)
            json.key("content")
            json.string(message.content)
            json.endObject()
        }
        json.endArray()
        if chat.maxTokens > 0 {
            json.key("max_tokens")
            json.number(chat.maxTokens)
        }
        if let temperature = chat.temperature, temperature.isFinite {
            json.key("temperature")
            json.number(temperature)
        }
        if let topP = chat.topP, topP.isFinite {
            json.key("top_p")
            json.number(topP)
        }
        let stop = chat.stop.filter { !$0.isEmpty }
        if !stop.isEmpty {
            json.key("stop")
            json.beginArray()
            for sequence in stop { json.string(sequence) }
            json.endArray()
        }
        if chat.stream {
            json.key("stream")
            json.bool(true)
            json.key("stream_options")
            json.beginObject()
            json.key("include_usage")
            json.bool(true)
            json.endObject()
        }
        json.endObject()
        return json.bytes
    }

    /// Decodes a non-streamed response body (`choices[0].message.content`, `finish_reason`,
    /// `usage`).
    public static func decodeCompletion(_ body: [UInt8]) throws(ProviderFailure) -> ChatCompletion {
        let decoded: ResponseBody
        do {
            decoded = try ResponseBody(body, choiceKey: "message")
        } catch {
            throw malformed("response", error)
        }
        if decoded.hasError {
            throw ProviderFailure(kind: .providerError, message: "the provider answered 200 with an error object")
        }
        guard let choice = decoded.firstChoice else {
            throw .malformed("response (no choices)")
        }
        return ChatCompletion(
            content: choice.content ?? "",
            finishReason: choice.finishReason ?? "",
            usage: (decoded.usage ?? decoded.groqUsage)?.tokenUsage,
            model: decoded.model ?? ""
        )
    }

    /// Decodes one stream event's data (`choices[0].delta.content`, `finish_reason`, `usage`).
    public static func decodeChunk(_ data: [UInt8]) throws(ProviderFailure) -> ChatStreamChunk {
        let decoded: ResponseBody
        do {
            decoded = try ResponseBody(data, choiceKey: "delta")
        } catch {
            throw malformed("stream chunk", error)
        }
        if decoded.hasError {
            throw ProviderFailure(kind: .providerError, message: "the provider reported an error in mid-stream")
        }
        let choice = decoded.firstChoice
        return ChatStreamChunk(
            delta: choice?.content ?? "",
            finishReason: choice?.finishReason,
            usage: (decoded.usage ?? decoded.groqUsage)?.tokenUsage,
            model: decoded.model ?? ""
        )
    }

    private static func malformed(_ what: String, _ failure: JSONReader.Failure) -> ProviderFailure {
        ProviderFailure(kind: .malformedResponse, message: "the provider's \(what) does not parse: \(failure)")
    }

    /// The provider's error message in an error body (`{"error":{"message":...}}`,
    /// `{"error":"..."}` or `{"message":...}`), at most 300 characters.
    public static func errorMessage(in body: [UInt8]) -> String? {
        guard let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(body)),
            let message = decoded.error?.message ?? decoded.message, !message.isEmpty
        else { return nil }
        return message.count > 300 ? String(message.prefix(300)) + "…" : message
    }

    /// The provider's error code in an error body (`{"error":{"code":"model_not_found"}}`), if any.
    public static func errorCode(in body: [UInt8]) -> String? {
        (try? JSONDecoder().decode(ErrorBody.self, from: Data(body)))?.error?.code
    }
}

// MARK: - Response shapes

/// What Pellet reads of a completion body or a stream chunk, read with ``JSONReader``; every
/// other key is skipped. It reads exactly what the `Decodable` shapes it replaced accepted:
/// `null` is the same as a missing key, a value of another type is malformed, every element of
/// `choices` must be a choice (only the first is kept), and a repeated key keeps its first
/// value, as `JSONDecoder` did.
private struct ResponseBody {
    struct Choice {
        /// `message.content` in a completion, `delta.content` in a chunk.
        var content: String?
        var finishReason: String?
    }

    var model: String?
    /// nil when `choices` is missing, null or empty.
    var firstChoice: Choice?
    var usage: UsageBody?
    /// Groq has reported usage under `x_groq` in the last chunk.
    var groqUsage: UsageBody?
    /// `error` as an object (its `message` a string if any) or a plain string.
    var hasError = false

    private init() {}

    /// - Parameter choiceKey: the object in a choice that holds `content`: `message` in a
    ///   completion, `delta` in a stream chunk.
    init(_ body: [UInt8], choiceKey: StaticString) throws(JSONReader.Failure) {
        self = try JSONReader.read(body) { reader throws(JSONReader.Failure) in
            var decoded = ResponseBody()
            var seen = SeenKeys()
            try reader.beginObject()
            while let key = try reader.nextKey() {
                switch key {
                case "model" where seen.isFirst(.model):
                    decoded.model = try reader.readStringOrNull()
                case "choices" where seen.isFirst(.choices):
                    if try reader.readNull() { break }
                    try reader.beginArray()
                    while try reader.nextElement() {
                        let choice = try Self.readChoice(&reader, choiceKey: choiceKey)
                        if decoded.firstChoice == nil { decoded.firstChoice = choice }
                    }
                case "usage" where seen.isFirst(.usage):
                    decoded.usage = try UsageBody.read(&reader)
                case "x_groq" where seen.isFirst(.groq):
                    decoded.groqUsage = try Self.readGroqUsage(&reader)
                case "error" where seen.isFirst(.error):
                    decoded.hasError = try Self.readError(&reader)
                default:
                    try reader.skipValue()
                }
            }
            return decoded
        }
    }

    private static func readChoice(
        _ reader: inout JSONReader,
        choiceKey: StaticString
    ) throws(JSONReader.Failure) -> Choice {
        var choice = Choice()
        var seen = SeenKeys()
        try reader.beginObject()
        while let key = try reader.nextKey() {
            switch key {
            case choiceKey where seen.isFirst(.message):
                if try reader.readNull() { break }
                var seenInMessage = SeenKeys()
                try reader.beginObject()
                while let key = try reader.nextKey() {
                    switch key {
                    case "content" where seenInMessage.isFirst(.content):
                        choice.content = try reader.readStringOrNull()
                    default:
                        try reader.skipValue()
                    }
                }
            case "finish_reason" where seen.isFirst(.finishReason):
                choice.finishReason = try reader.readStringOrNull()
            default:
                try reader.skipValue()
            }
        }
        return choice
    }

    private static func readGroqUsage(_ reader: inout JSONReader) throws(JSONReader.Failure) -> UsageBody? {
        if try reader.readNull() { return nil }
        var usage: UsageBody?
        var seen = SeenKeys()
        try reader.beginObject()
        while let key = try reader.nextKey() {
            switch key {
            case "usage" where seen.isFirst(.usage): usage = try UsageBody.read(&reader)
            default: try reader.skipValue()
            }
        }
        return usage
    }

    /// Whether there is an error: false for `null`.
    private static func readError(_ reader: inout JSONReader) throws(JSONReader.Failure) -> Bool {
        if try reader.readNull() { return false }
        if try reader.nextValueKind() == .string {
            _ = try reader.readString()
            return true
        }
        var seen = SeenKeys()
        try reader.beginObject()
        while let key = try reader.nextKey() {
            switch key {
            case "message" where seen.isFirst(.message): _ = try reader.readStringOrNull()
            default: try reader.skipValue()
            }
        }
        return true
    }
}

private struct UsageBody {
    var promptTokens: Int?
    var completionTokens: Int?
    var cachedTokens: Int?

    var tokenUsage: TokenUsage {
        let prompt = UInt32(clamping: max(0, promptTokens ?? 0))
        return TokenUsage(
            promptTokens: prompt,
            completionTokens: UInt32(clamping: max(0, completionTokens ?? 0)),
            // Never more than the prompt: cached tokens are a part of it, billed at another price.
            cachedPromptTokens: min(prompt, UInt32(clamping: max(0, cachedTokens ?? 0)))
        )
    }

    /// `{"prompt_tokens":…,"completion_tokens":…,"prompt_tokens_details":{"cached_tokens":…}}`, or
    /// nil for `null`. Together reports the cached count flat as `usage.cached_tokens` for some
    /// models; the OpenAI place wins when both are there.
    static func read(_ reader: inout JSONReader) throws(JSONReader.Failure) -> UsageBody? {
        if try reader.readNull() { return nil }
        var usage = UsageBody()
        var flatCached: Int?
        var seen = SeenKeys()
        try reader.beginObject()
        while let key = try reader.nextKey() {
            switch key {
            case "prompt_tokens" where seen.isFirst(.promptTokens): usage.promptTokens = try reader.readIntOrNull()
            case "completion_tokens" where seen.isFirst(.completionTokens):
                usage.completionTokens = try reader.readIntOrNull()
            case "prompt_tokens_details" where seen.isFirst(.promptTokensDetails):
                usage.cachedTokens = try readCachedTokens(&reader)
            case "cached_tokens" where seen.isFirst(.cachedTokens): flatCached = try reader.readIntOrNull()
            default: try reader.skipValue()
            }
        }
        usage.cachedTokens = usage.cachedTokens ?? flatCached
        return usage
    }

    /// `prompt_tokens_details`: `{"cached_tokens":…}` or `null`.
    private static func readCachedTokens(_ reader: inout JSONReader) throws(JSONReader.Failure) -> Int? {
        if try reader.readNull() { return nil }
        var cached: Int?
        var seen = SeenKeys()
        try reader.beginObject()
        while let key = try reader.nextKey() {
            switch key {
            case "cached_tokens" where seen.isFirst(.cachedTokens): cached = try reader.readIntOrNull()
            default: try reader.skipValue()
            }
        }
        return cached
    }
}

/// The keys of one object read so far. A repeated key keeps its first value, as with
/// `JSONDecoder`: `case "key" where seen.isFirst(.key)` sends a repeat to `default`, which
/// skips it.
private struct SeenKeys: OptionSet {
    let rawValue: UInt16

    static let model = SeenKeys(rawValue: 1 << 0)
    static let choices = SeenKeys(rawValue: 1 << 1)
    static let usage = SeenKeys(rawValue: 1 << 2)
    static let groq = SeenKeys(rawValue: 1 << 3)
    static let error = SeenKeys(rawValue: 1 << 4)
    /// A choice's `message` or `delta`, or an error's `message`.
    static let message = SeenKeys(rawValue: 1 << 5)
    static let finishReason = SeenKeys(rawValue: 1 << 6)
    static let content = SeenKeys(rawValue: 1 << 7)
    static let promptTokens = SeenKeys(rawValue: 1 << 8)
    static let completionTokens = SeenKeys(rawValue: 1 << 9)
    static let promptTokensDetails = SeenKeys(rawValue: 1 << 10)
    static let cachedTokens = SeenKeys(rawValue: 1 << 11)

    mutating func isFirst(_ key: SeenKeys) -> Bool {
        insert(key).inserted
    }
}

/// `error` as an object with a message, or as a plain string.
private struct ErrorDetail: Decodable {
    var message: String?
    /// A string code (`model_not_found`); a number or anything else is left out.
    var code: String?

    enum CodingKeys: String, CodingKey { case message, code }

    init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            message = text
        } else {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            message = try container.decodeIfPresent(String.self, forKey: .message)
            code = try? container.decodeIfPresent(String.self, forKey: .code)
        }
    }
}

/// An error body, off the hot path: still `JSONDecoder`.
private struct ErrorBody: Decodable {
    var error: ErrorDetail?
    var message: String?
}
