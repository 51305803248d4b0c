import Foundation

/// The model list the mock serves at `GET /v1/models`, set by `--models` and replaced at run
/// time with `POST /_mock/models`, so that a test can retire a model while a gateway runs.
///
/// While a list is set, a chat request for a model not on it is answered as the real providers
/// answer a retired model: 404 with `code: "model_not_found"`. Without one (the default), every
/// model is served and the list names the fixed models plus those requested so far.
public final class MockModelList: @unchecked Sendable {
    // @unchecked: every access to `listed` and `failure` holds `lock`.
    private let lock = NSLock()
    private var listed: [String]?
    /// When set, `GET /v1/models` answers this status (a provider whose list cannot be read).
    private var failure: Int?

    init(_ models: [String]?) {
        self.listed = models
    }

    /// The list set, or nil when every model is served.
    public var models: [String]? { lock.withLock { listed } }

    public func set(_ models: [String]?) {
        lock.withLock { listed = models }
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
        case let ids as [Any]:
            guard let strings = ids as? [String] else { return "the model list must be an array of strings" }
            lock.withLock {
                listed = strings
                failure = nil
            }
        case is NSNull:
            lock.withLock {
                listed = nil
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
