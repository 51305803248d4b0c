import Logging
import Synchronization

/// Logs an outage of the cluster database once when it starts and once when it ends, not at
/// every failed attempt (leases are attempted per account, as often as calls ask).
final class OutageLog: Sendable {
    private let logger: Logger
    private let what: String
    private let down = Atomic<Bool>(false)

    init(logger: Logger, what: String) {
        self.logger = logger
        self.what = what
    }

    func failed(_ message: String, _ error: any Error) {
        guard !down.exchange(true, ordering: .relaxed) else { return }
        logger.warning("\(message): \(String(reflecting: error))")
    }

    func succeeded() {
        guard down.exchange(false, ordering: .relaxed) else { return }
        logger.notice("\(what) with the cluster database works again")
    }
}
