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
        var headers: HTTPHeaders = [("Content-Type", "application/json")]
        if let key = provider.apiKey {
            headers.add(name: "Authorization", value: "Bearer " + key.value)
        }
        headers.add(name: "Accept", value: chat.stream ? "text/event-stream" : "application/json")
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
    /// when set (zero, non-finite and empty values are left to the provider's defaults), then
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
        if chat.temperature != 0, chat.temperature.isFinite {
            json.key("temperature")
            json.number(chat.temperature)
        }
        if chat.topP != 0, chat.topP.isFinite {
            json.key("top_p")
            json.number(chat.topP)
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
        let decoded: CompletionBody
        do {
            decoded = try JSONDecoder().decode(CompletionBody.self, from: Data(body))
        } catch {
            throw .malformed("response")
        }
        if decoded.error != nil {
            throw ProviderFailure(kind: .providerError, message: "the provider answered 200 with an error object")
        }
        guard let choice = decoded.choices?.first else {
            throw .malformed("response (no choices)")
        }
        return ChatCompletion(
            content: choice.message?.content ?? "",
            finishReason: choice.finishReason ?? "",
            usage: (decoded.usage ?? decoded.groq?.usage)?.tokenUsage,
            model: decoded.model ?? ""
        )
    }

    /// Decodes one stream event's data (`choices[0].delta.content`, `finish_reason`, `usage`).
    public static func decodeChunk(_ data: [UInt8]) throws(ProviderFailure) -> ChatStreamChunk {
        let decoded: ChunkBody
        do {
            decoded = try JSONDecoder().decode(ChunkBody.self, from: Data(data))
        } catch {
            throw .malformed("stream chunk")
        }
        if decoded.error != nil {
            throw ProviderFailure(kind: .providerError, message: "the provider reported an error in mid-stream")
        }
        let choice = decoded.choices?.first
        return ChatStreamChunk(
            delta: choice?.delta?.content ?? "",
            finishReason: choice?.finishReason,
            usage: (decoded.usage ?? decoded.groq?.usage)?.tokenUsage,
            model: decoded.model ?? ""
        )
    }

    /// The provider's error message in an error body (`{"error":{"message":...}}`,
    /// `{"error":"..."}` or `{"message":...}`), at most 300 characters.
    public static func errorMessage(in body: [UInt8]) -> String? {
        guard let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(body)),
            let message = decoded.error?.message ?? decoded.message, !message.isEmpty
        else { return nil }
        return message.count > 300 ? String(message.prefix(300)) + "…" : message
    }
}

// MARK: - Response shapes

private struct UsageBody: Decodable {
    var promptTokens: Int?
    var completionTokens: Int?

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
    }

    var tokenUsage: TokenUsage {
        TokenUsage(
            promptTokens: UInt32(clamping: max(0, promptTokens ?? 0)),
            completionTokens: UInt32(clamping: max(0, completionTokens ?? 0))
        )
    }
}

/// Groq has reported usage under `x_groq` in the last chunk.
private struct GroqExtension: Decodable {
    var usage: UsageBody?
}

/// `error` as an object with a message, or as a plain string.
private struct ErrorDetail: Decodable {
    var message: String?

    enum CodingKeys: String, CodingKey { case message }

    init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            message = text
        } else {
            message = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .message)
        }
    }
}

private struct ErrorBody: Decodable {
    var error: ErrorDetail?
    var message: String?
}

private struct CompletionBody: Decodable {
    struct Message: Decodable {
        var content: String?
    }

    struct Choice: Decodable {
        var message: Message?
        var finishReason: String?

        enum CodingKeys: String, CodingKey {
            case message
            case finishReason = "finish_reason"
        }
    }

    var model: String?
    var choices: [Choice]?
    var usage: UsageBody?
    var groq: GroqExtension?
    var error: ErrorDetail?

    enum CodingKeys: String, CodingKey {
        case model, choices, usage, error
        case groq = "x_groq"
    }
}

private struct ChunkBody: Decodable {
    struct Delta: Decodable {
        var content: String?
    }

    struct Choice: Decodable {
        var delta: Delta?
        var finishReason: String?

        enum CodingKeys: String, CodingKey {
            case delta
            case finishReason = "finish_reason"
        }
    }

    var model: String?
    var choices: [Choice]?
    var usage: UsageBody?
    var groq: GroqExtension?
    var error: ErrorDetail?

    enum CodingKeys: String, CodingKey {
        case model, choices, usage, error
        case groq = "x_groq"
    }
}
