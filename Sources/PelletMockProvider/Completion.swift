import Foundation
import NIOCore

/// The fields of an OpenAI chat completion request that the mock reads.
struct MockChatRequest {
    struct Message {
        var role: String
        var content: String
    }

    var model: String
    var messages: [Message]
    /// 0 when the request sets no limit.
    var maxTokens = 0
    var stream = false
    var includeUsage = false
    var stop: [String] = []

    /// Parses and checks a request body; the error message goes back in a 400.
    init(body: ByteBuffer) throws(MockRequestError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        } catch {
            throw MockRequestError("We could not parse the JSON body of your request: invalid JSON")
        }
        guard let fields = object as? [String: Any] else {
            throw MockRequestError("The request body must be a JSON object")
        }
        guard let model = fields["model"] as? String, !model.isEmpty else {
            throw MockRequestError("you must provide a model parameter", param: "model")
        }
        guard let rawMessages = fields["messages"] as? [Any], !rawMessages.isEmpty else {
            throw MockRequestError("'messages' must be a non-empty array", param: "messages")
        }
        self.model = model
        self.messages = []
        for (index, raw) in rawMessages.enumerated() {
            guard let message = raw as? [String: Any], let role = message["role"] as? String else {
                throw MockRequestError("messages[\(index)] must be an object with a string 'role'", param: "messages")
            }
            guard let content = Self.text(of: message["content"]) else {
                throw MockRequestError("messages[\(index)].content must be a string or an array of text parts",
                                       param: "messages")
            }
            messages.append(Message(role: role, content: content))
        }
        for name in ["max_tokens", "max_completion_tokens"] where !Self.isAbsent(fields[name]) {
            guard let limit = fields[name] as? Int, limit >= 0 else {
                throw MockRequestError("'\(name)' must be a non-negative integer", param: name)
            }
            maxTokens = limit
        }
        for (name, range) in [("temperature", 0.0...2.0), ("top_p", 0.0...1.0)] where !Self.isAbsent(fields[name]) {
            guard let value = fields[name] as? Double, range.contains(value) else {
                throw MockRequestError(
                    "'\(name)' must be a number in \(range.lowerBound)...\(range.upperBound)", param: name)
            }
        }
        if !Self.isAbsent(fields["stream"]) {
            guard let stream = fields["stream"] as? Bool else {
                throw MockRequestError("'stream' must be a boolean", param: "stream")
            }
            self.stream = stream
        }
        if let options = fields["stream_options"] as? [String: Any] {
            includeUsage = options["include_usage"] as? Bool ?? false
        }
        switch fields["stop"] {
        case let single as String: stop = [single]
        case let many as [Any]:
            guard let strings = many as? [String] else {
                throw MockRequestError("'stop' must be a string or an array of strings", param: "stop")
            }
            stop = strings
        default:
            guard Self.isAbsent(fields["stop"]) else {
                throw MockRequestError("'stop' must be a string or an array of strings", param: "stop")
            }
        }
        stop.removeAll { $0.isEmpty }
    }

    init(model: String, messages: [Message], maxTokens: Int) {
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
    }

    private static func isAbsent(_ value: Any?) -> Bool { value == nil || value is NSNull }

    /// A string, null (empty), or OpenAI content parts whose `text` fields are joined.
    private static func text(of content: Any?) -> String? {
        switch content {
        case nil, is NSNull: return ""
        case let text as String: return text
        case let parts as [Any]:
            var joined = ""
            for part in parts {
                guard let part = part as? [String: Any] else { return nil }
                if let text = part["text"] as? String { joined += text }
            }
            return joined
        default: return nil
        }
    }
}

struct MockRequestError: Error {
    let message: String
    let param: String?
    init(_ message: String, param: String? = nil) {
        self.message = message
        self.param = param
    }
}

/// A deterministic answer: the same messages give the same pieces on every mock and every run.
///
/// - Prompt tokens: ceil(UTF-8 bytes of all message contents / 4) + 4 per message.
/// - The answer is `naturalLength` pieces of `wordsPerPiece` words (from a fixed list; the first
///   capitalised, each later one with a leading space) chosen by a hash of the last user message, cut at
///   `max_tokens` (finish_reason "length") or before the piece that would complete a stop
///   sequence (finish_reason "stop").
/// - Completion tokens = pieces emitted.
struct MockCompletion {
    let pieces: [String]
    let finishReason: String
    let promptTokens: Int
    var completionTokens: Int { pieces.count }
    /// What the usage reports as completion tokens: the pieces, unless the behaviour lies.
    var reportedCompletionTokens: Int?
    /// Of the prompt, the tokens the usage reports as cached (0: no `prompt_tokens_details`).
    var cachedPromptTokens = 0
    var content: String { pieces.joined() }

    init(request: MockChatRequest, naturalLength: Int, wordsPerPiece: Int = 1) {
        promptTokens = Self.promptTokens(request.messages)
        let seedText = request.messages.last { $0.role == "user" }?.content
            ?? request.messages.map(\.content).joined(separator: "\n")
        var generator = SplitMix64(seed: Self.fnv1a(seedText))
        let limit = request.maxTokens > 0 ? min(request.maxTokens, naturalLength) : naturalLength
        let longestStop = request.stop.map(\.utf8.count).max() ?? 0
        var pieces: [String] = []
        pieces.reserveCapacity(limit)
        var tail = ""  // the end of the content so far, enough to see a stop sequence complete
        var stopped = false
        for index in 0..<limit {
            var piece = ""
            for wordIndex in 0..<wordsPerPiece {
                let word = Self.words[Int(generator.next() % UInt64(Self.words.count))]
                piece += index == 0 && wordIndex == 0 ? word.prefix(1).uppercased() + word.dropFirst() : " " + word
            }
            if longestStop > 0 {
                let candidate = tail + piece
                if request.stop.contains(where: { candidate.contains($0) }) {
                    stopped = true
                    break
                }
                tail = String(decoding: candidate.utf8.suffix(longestStop), as: UTF8.self)
            }
            pieces.append(piece)
        }
        self.pieces = pieces
        finishReason = !stopped && limit < naturalLength ? "length" : "stop"
    }

    static func promptTokens(_ messages: [MockChatRequest.Message]) -> Int {
        let bytes = messages.reduce(0) { $0 + $1.content.utf8.count }
        return (bytes + 3) / 4 + 4 * messages.count
    }

    private static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// Plain lowercase ASCII, so no piece ever needs JSON escaping.
    static let words = [
        "alpha", "bright", "cedar", "delta", "ember", "fable", "garden", "harbor", "island", "juniper",
        "kettle", "lantern", "meadow", "nectar", "orbit", "pebble", "quartz", "river", "saddle", "timber",
        "umber", "velvet", "willow", "xenon", "yonder", "zephyr", "anchor", "basil", "canyon", "dune",
        "echo", "falcon", "glacier", "hollow", "indigo", "jasper", "kernel", "lagoon", "marble", "north",
        "opal", "prairie", "quiet", "ridge", "summit", "tundra", "upland", "valley", "wander", "yarrow",
        "amber", "birch", "coral", "drift", "field", "grove", "heron", "iris", "jade", "kestrel",
        "linen", "maple", "nova", "ocean",
    ]
}

extension MockBehavior {
    /// The content this behaviour answers, streamed or whole, to one user message: for a test that
    /// checks what a client received without asking the mock a second time.
    public func content(answering userMessage: String, maxTokens: Int = 0) -> String {
        let request = MockChatRequest(
            model: "", messages: [.init(role: "user", content: userMessage)], maxTokens: maxTokens)
        return MockCompletion(request: request, naturalLength: completionTokens, wordsPerPiece: wordsPerPiece).content
    }
}

/// A tiny, fast, well-mixed generator (Steele, Lea, Flood 2014); only determinism matters here.
private struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
