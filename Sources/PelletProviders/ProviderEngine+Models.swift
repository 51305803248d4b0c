import Foundation

extension ProviderEngine {
    /// Reads `provider`'s model list (``ModelList``) on the provider thread, like any transfer,
    /// and hands the ids and published prices to `completion` on that thread: it must return at once (hop elsewhere for
    /// anything more).
    public func listModels(
        provider: ProviderConfiguration,
        timeout: Duration,
        completion: @escaping @Sendable (Result<ListedModels, ModelListError>) -> Void
    ) {
        start(ModelList.httpRequest(provider: provider, timeout: timeout), handler: ModelListHandler(completion: completion))
    }

    /// ``listModels(provider:timeout:completion:)`` for async code.
    public func listModels(provider: ProviderConfiguration, timeout: Duration) async -> Result<ListedModels, ModelListError> {
        await withCheckedContinuation { continuation in
            listModels(provider: provider, timeout: timeout) { continuation.resume(returning: $0) }
        }
    }
}

/// Collects a list body on the provider thread and parses it once the transfer ends (a list is
/// read once per discovery interval: the parse is too rare to be worth a hop).
///
/// `@unchecked Sendable`: the engine calls a handler's methods on the provider thread only, one
/// after another, so `status` and `body` are never touched concurrently.
private final class ModelListHandler: TransferHandler, @unchecked Sendable {
    private let completion: @Sendable (Result<ListedModels, ModelListError>) -> Void
    private var status = 0
    private var body: [UInt8] = []
    private var tooLarge = false

    init(completion: @escaping @Sendable (Result<ListedModels, ModelListError>) -> Void) {
        self.completion = completion
    }

    func receivedStatus(_ status: Int, headers: HTTPHeaders) {
        self.status = status
    }

    func receivedBody(_ bytes: UnsafeRawBufferPointer) {
        guard body.count + bytes.count <= ModelList.maximumBodyBytes else {
            tooLarge = true
            return
        }
        body.append(contentsOf: bytes)
    }

    func finished(_ result: TransferResult) {
        switch result {
        case .completed where tooLarge:
            completion(.failure(ModelListError(message: "the model list is larger than \(ModelList.maximumBodyBytes) bytes")))
        case .completed where !(200..<300).contains(status):
            completion(.failure(ModelListError(message: "the model list was answered with status \(status)")))
        case .completed:
            completion(Result { () throws(ModelListError) in try ModelList.read(body) })
        case .failed(let error):
            completion(.failure(ModelListError(message: "the model list could not be read: \(error.message)")))
        case .cancelled:
            completion(.failure(ModelListError(message: "reading the model list was cancelled")))
        }
    }
}
