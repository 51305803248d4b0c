import Foundation

/// What one chat completion request should do. Layers apply in order, each overriding the one
/// before: the command-line flags, the runtime default (`POST /_mock/behavior`), the model name's
/// `mock-behavior=...` suffix, then the `x-mock-behavior` header. Tests pick failures by model
/// name so the gateway needs no test-only plumbing.
public struct MockBehavior: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case ok
        /// An HTTP error status with an OpenAI-style error body.
        case status(Int)
        /// Accept the request and never answer; the client can still close the connection.
        case hang
        /// 200 with a body (or, for a stream, a `data:` line) that is not valid JSON.
        case malformed
        /// Close the connection after this many content pieces, without `[DONE]`.
        case disconnect(afterPieces: Int)
    }

    static let header = "x-mock-behavior"
    static let modelMarker = "mock-behavior="

    public var outcome = Outcome.ok
    public var sendsDone = true
    public var sendsUsage = true
    /// Added before the response headers.
    public var latencyMs = 0
    /// For streams: between the headers (with the role chunk) and the first content piece.
    public var ttftMs = 0
    /// Pacing of streamed content pieces; 0 sends them as fast as possible.
    public var tokensPerSecond = 0.0
    /// Pieces in a full answer, before `max_tokens` and stop sequences cut it.
    public var completionTokens = 32
    /// Words in each piece (one token each in the usage): a large answer in fewer SSE events.
    public var wordsPerPiece = 1
    public var retryAfterSeconds = 1
    /// The usage claims this many completion tokens, whatever was generated or `max_tokens`
    /// allowed: a provider that over-reports (the gateway must not charge past its reservation).
    public var reportedCompletionTokens: Int?
    /// The usage says this many prompt tokens came from the prompt cache
    /// (`prompt_tokens_details.cached_tokens`, capped at the prompt): a cache hit, billed at the
    /// cached-input price.
    public var cachedPromptTokens = 0

    public init() {}

    /// Applies a control list such as `status=429,latency=50`; items are separated by `,` or `;`.
    public mutating func apply(_ spec: some StringProtocol) throws(MockBehaviorError) {
        for rawItem in spec.split(whereSeparator: { $0 == "," || $0 == ";" }) {
            let item = rawItem.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            let (key, value) = Self.splitItem(item)
            switch key {
            case "ok":
                outcome = .ok
                sendsDone = true
                sendsUsage = true
            case "hang": outcome = .hang
            case "malformed": outcome = .malformed
            case "disconnect-midstream": outcome = .disconnect(afterPieces: 3)
            case "disconnect-after":
                outcome = .disconnect(afterPieces: try Self.integer(item, value, in: 0...1_000_000))
            case "no-done": sendsDone = false
            case "no-usage": sendsUsage = false
            case "status":
                let code = try Self.integer(item, value, in: 200...599)
                outcome = code == 200 ? .ok : .status(code)
            case "latency": latencyMs = try Self.integer(item, value, in: 0...3_600_000)
            case "ttft": ttftMs = try Self.integer(item, value, in: 0...3_600_000)
            case "tps":
                guard let value, let rate = Double(value), rate >= 0, rate.isFinite else {
                    throw MockBehaviorError("'\(item)': tps wants a number of tokens per second, 0 or more")
                }
                tokensPerSecond = rate
            case "tokens": completionTokens = try Self.integer(item, value, in: 0...1_000_000)
            case "words-per-piece": wordsPerPiece = try Self.integer(item, value, in: 1...1000)
            case "retry-after": retryAfterSeconds = try Self.integer(item, value, in: 0...86_400)
            case "report-tokens": reportedCompletionTokens = try Self.integer(item, value, in: 0...100_000_000)
            case "cached": cachedPromptTokens = try Self.integer(item, value, in: 0...100_000_000)
            default:
                throw MockBehaviorError(
                    "unknown mock behavior '\(item)' (known: ok, status=N, hang, malformed, disconnect-midstream, "
                        + "disconnect-after=N, no-done, no-usage, latency=MS, ttft=MS, tps=N, tokens=N, "
                        + "words-per-piece=N, retry-after=S, report-tokens=N, cached=N)"
                )
            }
        }
    }

    /// The control list carried by a model name such as `llama-8b@mock-behavior=status=500`.
    static func spec(inModel model: String) -> Substring? {
        guard let marker = model.range(of: modelMarker) else { return nil }
        return model[marker.upperBound...]
    }

    private static func splitItem(_ item: String) -> (String, String?) {
        guard let equals = item.firstIndex(of: "=") else { return (item.lowercased(), nil) }
        let key = item[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
        let value = item[item.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        return (key, value)
    }

    private static func integer(
        _ item: String,
        _ value: String?,
        in range: ClosedRange<Int>
    ) throws(MockBehaviorError) -> Int {
        guard let value, let number = Int(value), range.contains(number) else {
            throw MockBehaviorError("'\(item)' wants an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}

public struct MockBehaviorError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The runtime default behaviour, shared by every connection; `POST /_mock/behavior` replaces it.
public final class MockDefaultBehavior: @unchecked Sendable {
    // @unchecked: every access to `current` and `spec` holds `lock`.
    private let lock = NSLock()
    private let base: MockBehavior
    private var current: MockBehavior
    private var spec = ""

    init(base: MockBehavior) {
        self.base = base
        self.current = base
    }

    public var behavior: MockBehavior { lock.withLock { current } }
    public var currentSpec: String { lock.withLock { spec } }

    /// Replaces the runtime default with the flags' defaults plus `spec` (empty restores the flags').
    public func set(_ newSpec: String) throws(MockBehaviorError) {
        var behavior = base
        try behavior.apply(newSpec)
        lock.withLock {
            current = behavior
            spec = newSpec
        }
    }
}
