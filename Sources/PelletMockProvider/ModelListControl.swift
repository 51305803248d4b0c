import Foundation

/// The model list the mock serves at `GET /v1/models`, set by `--models` and replaced at run
/// time with `POST /_mock/models`, so that a test can retire a model while a gateway runs.
///
/// While a list is set, a chat request for a model not on it is answered as the real providers
/// answer a retired model: 404 with `code: "model_not_found"`. Without one (the default), every
/// model is served and the list names the fixed models plus those requested so far.
public final class MockModelList: @unchecked Sendable {
    // @unchecked: every access to `listed`, `prices` and `failure` holds `lock`.
    private let lock = NSLock()
    private var listed: [String]?
    /// Published with the list as each item's `pricing` (Together's shape), by model id.
    private var prices: [String: MockPrice]
    /// When set, `GET /v1/models` answers this status (a provider whose list cannot be read).
    private var failure: Int?

    init(_ models: [String]?, prices: [String: MockPrice] = [:]) {
        self.listed = models
        self.prices = prices
    }

    /// The list set, or nil when every model is served.
    public var models: [String]? { lock.withLock { listed } }

    /// The prices published with the list.
    public var publishedPrices: [String: MockPrice] { lock.withLock { prices } }

    public func set(_ models: [String]?, prices: [String: MockPrice] = [:]) {
        lock.withLock {
            listed = models
            self.prices = prices
        }
    }

    /// `--models` entries: `ID`, or `ID=IN/OUT` to publish the model's prices in USD per million
    /// tokens (`openai/gpt-oss-120b=0.15/0.60`). Throws a sentence for an entry that is neither.
    public static func parse(entries: [String]) throws(MockBehaviorError) -> (models: [String], prices: [String: MockPrice]) {
        var models: [String] = []
        var prices: [String: MockPrice] = [:]
        for entry in entries {
            guard let equals = entry.lastIndex(of: "=") else {
                models.append(entry)
                continue
            }
            let id = String(entry[..<equals])
            let parts = entry[entry.index(after: equals)...].split(separator: "/", omittingEmptySubsequences: false)
            guard !id.isEmpty, parts.count == 2, let input = Double(parts[0]), let output = Double(parts[1]),
                input >= 0, output >= 0, input.isFinite, output.isFinite
            else {
                throw MockBehaviorError(
                    "model entry '\(entry)': expected ID or ID=INPUT/OUTPUT (USD per million tokens, e.g. m=0.15/0.60)")
            }
            models.append(id)
            prices[id] = MockPrice(input: input, output: output)
        }
        return (models, prices)
    }

    /// The status `GET /v1/models` answers with (nil: 200 with the list).
    public var listFailure: Int? { lock.withLock { failure } }

    public func setListFailure(_ status: Int?) {
        lock.withLock { failure = status }
    }

    /// Whether a chat request for `model` is served: always without a list; with one, when the
    /// model (without a `@mock-behavior=...` suffix) is on it.
    func serves(_ model: String) -> Bool {
        guard let listed = models else { return true }
        let bare = model.range(of: "@" + MockBehavior.modelMarker).map { String(model[..<$0.lowerBound]) } ?? model
        return listed.contains(bare)
    }

    /// Applies a `POST /_mock/models` body: a JSON array of ids sets the list (and ends a list
    /// failure), `null` serves every model again, `{"status":N}` makes the list answer N (200
    /// ends that). Returns the error sentence for a body that is none of these.
    func apply(controlBody body: String) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed])
        switch object {
        case let items as [Any]:
            // Each item an id, or Together's shape with prices: {"id": ..., "pricing": {"input": 0.15, "output": 0.6}}.
            var ids: [String] = []
            var published: [String: MockPrice] = [:]
            for item in items {
                if let id = item as? String {
                    ids.append(id)
                } else if let entry = item as? [String: Any], let id = entry["id"] as? String {
                    ids.append(id)
                    if let pricing = entry["pricing"] as? [String: Any] {
                        guard let input = (pricing["input"] as? NSNumber)?.doubleValue,
                            let output = (pricing["output"] as? NSNumber)?.doubleValue
                        else { return "a pricing object needs numbers \"input\" and \"output\" (USD per million tokens)" }
                        published[id] = MockPrice(input: input, output: output)
                    }
                } else {
                    return "each model must be an id or an object {\"id\": ..., \"pricing\": {\"input\": ..., \"output\": ...}}"
                }
            }
            lock.withLock {
                listed = ids
                prices = published
                failure = nil
            }
        case is NSNull:
            lock.withLock {
                listed = nil
                prices = [:]
                failure = nil
            }
        case let control as [String: Any]:
            guard let status = control["status"] as? Int, (200...599).contains(status) else {
                return "expected {\"status\": 200...599}"
            }
            lock.withLock { failure = status == 200 ? nil : status }
        default:
            return "expected a JSON array of model ids, null, or {\"status\": N}"
        }
        return nil
    }

    /// The `GET /_mock/models` body.
    func controlJSON() -> String {
        let current: (models: [String]?, failure: Int?) = lock.withLock { (self.listed, self.failure) }
        let models = current.models.map { "[" + $0.map { MockJSON.string($0) }.joined(separator: ",") + "]" } ?? "null"
        return "{\"models\":\(models),\"list_status\":\(current.failure ?? 200)}"
    }
}

/// A model's prices as a provider publishes them in its list, in USD per million tokens.
public struct MockPrice: Sendable, Equatable {
    public var input: Double
    public var output: Double

    public init(input: Double, output: Double) {
        self.input = input
        self.output = output
    }
}
