import Foundation
import PelletMockProvider
import PelletProviders

/// Talks to a mock provider's control endpoints over HTTP, as an operator or a test script would.
public enum MockControl {
    /// `POST /_mock/models` with `json` (an array of ids, `null`, or `{"status":N}`); returns the
    /// status. Sent through `engine`, so it is a real HTTP request on the provider thread.
    @discardableResult
    public static func setModels(_ json: String, on mock: MockServer, using engine: ProviderEngine) async -> Int {
        let url = "http://\(mock.host):\(mock.port)/_mock/models"
        let request = HTTPRequest(method: .post, url: url, body: Array(json.utf8), timeout: .seconds(5))
        return await withCheckedContinuation { continuation in
            engine.start(request, handler: StatusHandler { continuation.resume(returning: $0) })
        }
    }
}

/// Reports the response's status (0 when the transfer failed) once the transfer ends.
private final class StatusHandler: TransferHandler, @unchecked Sendable {
    // @unchecked: the engine calls a handler's methods on the provider thread only, in order.
    private var status = 0
    private let done: @Sendable (Int) -> Void

    init(done: @escaping @Sendable (Int) -> Void) {
        self.done = done
    }

    func receivedStatus(_ status: Int, headers: HTTPHeaders) {
        self.status = status
    }

    func receivedBody(_ bytes: UnsafeRawBufferPointer) {}

    func finished(_ result: TransferResult) {
        if case .completed = result { done(status) } else { done(0) }
    }
}
