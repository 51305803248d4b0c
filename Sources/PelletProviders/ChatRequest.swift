import PelletWire

/// A chat completion to send to a provider.
public struct ChatRequest: Sendable {
    /// The provider's own model name (the catalogue maps Pellet's model to it).
    public var model: String
    public var messages: [ChatMessage]
    /// 0: the provider's default.
    public var maxTokens: UInt32
    /// nil (or not finite): the provider's default. 0 is sent as 0 (greedy decoding).
    public var temperature: Float?
    /// nil (or not finite): the provider's default. 0 is sent as 0.
    public var topP: Float?
    public var stop: [String]
    /// Ask for server-sent events, with the usage in the last chunk.
    public var stream: Bool

    public init(
        model: String,
        messages: [ChatMessage],
        maxTokens: UInt32 = 0,
        temperature: Float? = nil,
        topP: Float? = nil,
        stop: [String] = [],
        stream: Bool = false
    ) {
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.stop = stop
        self.stream = stream
    }
}

/// A whole (non-streamed) answer, or the end of a streamed one.
public struct ChatCompletion: Sendable, Equatable {
    /// Empty for a stream unless the decoder was asked to accumulate it.
    public var content: String
    /// "stop", "length", ... as the provider says; empty if it did not.
    public var finishReason: String
    /// Nil when the provider did not report usage (the caller estimates and flags it).
    public var usage: TokenUsage?
    /// The model name the provider reports, empty if none.
    public var model: String
    /// libcurl's time for the whole transfer, when it ended before the completion was reported
    /// (always for unary calls). Nil for a stream, which completes at `[DONE]`.
    public var transferTime: Duration?

    public init(
        content: String, finishReason: String, usage: TokenUsage?, model: String = "", transferTime: Duration? = nil
    ) {
        self.content = content
        self.finishReason = finishReason
        self.usage = usage
        self.model = model
        self.transferTime = transferTime
    }
}

/// One parsed `data:` event of a stream.
public struct ChatStreamChunk: Sendable, Equatable {
    /// The new text; empty for role-only, finish-only and usage-only chunks.
    public var delta: String
    public var finishReason: String?
    public var usage: TokenUsage?
    public var model: String

    public init(delta: String, finishReason: String? = nil, usage: TokenUsage? = nil, model: String = "") {
        self.delta = delta
        self.finishReason = finishReason
        self.usage = usage
        self.model = model
    }
}
