import Foundation
import Logging

/// Keeps what a logger was told, for tests of warnings; tests never bootstrap the logging
/// system, they hand ``logger`` to the code under test.
public final class LogRecorder: @unchecked Sendable {
    // @unchecked: `entries` is only touched under `lock`.
    private let lock = NSLock()
    private var entries: [(level: Logger.Level, message: String)] = []

    public init() {}

    public var logger: Logger {
        var logger = Logger(label: "pellet.tests") { _ in Handler(recorder: self) }
        logger.logLevel = .trace
        return logger
    }

    /// "warning: the message" per entry, in order.
    public var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return entries.map { "\($0.level): \($0.message)" }
    }

    fileprivate func append(_ level: Logger.Level, _ message: String) {
        lock.lock()
        defer { lock.unlock() }
        entries.append((level, message))
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.append(event.level, event.message.description)
        }
    }
}
