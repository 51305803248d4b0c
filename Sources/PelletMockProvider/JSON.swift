import Foundation

/// JSON text for the mock's responses. The hot ones (completions and stream chunks) are built by
/// hand from pre-escaped parts: JSONSerialization per chunk would make the mock, not the gateway,
/// the bottleneck in a benchmark. Requests are parsed with JSONSerialization (`MockChatRequest`).
enum MockJSON {
    /// `text` as a JSON string literal, quotes included.
    static func string(_ text: String) -> String {
        var needsEscaping = false
        for byte in text.utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            needsEscaping = true
            break
        }
        guard needsEscaping else { return "\"" + text + "\"" }
        var escaped = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped + "\""
    }

    /// An OpenAI-style error body: `{"error":{"message","type","param","code"}}`.
    static func error(message: String, type: String, code: String?, param: String? = nil) -> String {
        "{\"error\":{\"message\":\(string(message)),\"type\":\(string(type)),"
            + "\"param\":\(param.map(string) ?? "null"),\"code\":\(code.map(string) ?? "null")}}"
    }

    static func modelList(
        _ models: [String], prices: [String: MockPrice] = [:], ownedBy owner: String, created: Int
    ) -> String {
        let items = models.map { id in
            // Together's `pricing` member, for a model with published prices.
            let pricing = prices[id].map { ",\"pricing\":{\"input\":\($0.input),\"output\":\($0.output)}" } ?? ""
            return "{\"id\":\(string(id)),\"object\":\"model\",\"created\":\(created),\"owned_by\":\(string(owner))\(pricing)}"
        }
        return "{\"object\":\"list\",\"data\":[" + items.joined(separator: ",") + "]}"
    }

    static func usage(_ completion: MockCompletion) -> String {
        let completionTokens = completion.reportedCompletionTokens ?? completion.completionTokens
        let total = completion.promptTokens + completionTokens
        // OpenAI's shape for a prompt-cache hit; left out when nothing was cached.
        let details =
            completion.cachedPromptTokens > 0
            ? ",\"prompt_tokens_details\":{\"cached_tokens\":\(completion.cachedPromptTokens)}" : ""
        return "{\"prompt_tokens\":\(completion.promptTokens),\"completion_tokens\":\(completionTokens),"
            + "\"total_tokens\":\(total)\(details)}"
    }
}

/// The fixed parts of one response's JSON, escaped once per request.
struct MockResponseJSON {
    /// `"id":...,"object":` up to (not including) the object type, shared by every chunk.
    private let identity: String
    /// `"created":...,"model":...,"system_fingerprint":...`
    private let metadata: String

    init(id: String, model: String, created: Int, fingerprint: String) {
        identity = "\"id\":\(MockJSON.string(id))"
        metadata = "\"created\":\(created),\"model\":\(MockJSON.string(model)),"
            + "\"system_fingerprint\":\(MockJSON.string(fingerprint))"
    }

    /// A whole `chat.completion`.
    func completion(_ completion: MockCompletion, includeUsage: Bool) -> String {
        var json = "{\(identity),\"object\":\"chat.completion\",\(metadata),\"choices\":[{\"index\":0,"
        json += "\"message\":{\"role\":\"assistant\",\"content\":\(MockJSON.string(completion.content))},"
        json += "\"logprobs\":null,\"finish_reason\":\"\(completion.finishReason)\"}]"
        if includeUsage { json += ",\"usage\":" + MockJSON.usage(completion) }
        return json + "}"
    }

    /// The first chunk: the role and empty content, sent with the headers.
    func roleChunk() -> String {
        chunk(delta: "{\"role\":\"assistant\",\"content\":\"\"}", finishReason: nil)
    }

    func contentChunk(_ piece: String) -> String {
        chunk(delta: "{\"content\":\(MockJSON.string(piece))}", finishReason: nil)
    }

    func finishChunk(_ finishReason: String) -> String {
        chunk(delta: "{}", finishReason: finishReason)
    }

    /// The `stream_options.include_usage` chunk: empty choices and the usage.
    func usageChunk(_ completion: MockCompletion) -> String {
        "{\(identity),\"object\":\"chat.completion.chunk\",\(metadata),\"choices\":[],\"usage\":"
            + MockJSON.usage(completion) + "}"
    }

    /// A body (`stream: false`) or chunk cut off in the middle of a string: no JSON parser accepts it.
    func malformed(stream: Bool) -> String {
        let object = stream ? "chat.completion.chunk" : "chat.completion"
        let choice = stream
            ? "\"delta\":{\"content\":\"trunc"
            : "\"message\":{\"role\":\"assistant\",\"content\":\"trunc"
        return "{\(identity),\"object\":\"\(object)\",\(metadata),\"choices\":[{\"index\":0,\(choice)"
    }

    private func chunk(delta: String, finishReason: String?) -> String {
        "{\(identity),\"object\":\"chat.completion.chunk\",\(metadata),\"choices\":[{\"index\":0,\"delta\":\(delta),"
            + "\"logprobs\":null,\"finish_reason\":\(finishReason.map { "\"\($0)\"" } ?? "null")}]}"
    }
}
