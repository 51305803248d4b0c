import Foundation
import Logging
import PelletProviders
import XCTest

/// A value behind a lock, for test handlers called on the provider thread.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched inside `withLock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    var current: Value { withLock { $0 } }
}

/// Records everything a transfer delivers, and when.
final class RecordingHandler: TransferHandler {
    struct Record {
        var status: Int?
        var headers = HTTPHeaders()
        var body: [UInt8] = []
        var bodyCallbacks = 0
        var result: TransferResult?
        var finishedAt: ContinuousClock.Instant?
        var callsAfterFinish = 0
    }

    let record = Locked(Record())
    private let done = DispatchSemaphore(value: 0)
    private let onBody: (@Sendable ([UInt8]) -> Void)?

    init(onBody: (@Sendable ([UInt8]) -> Void)? = nil) {
        self.onBody = onBody
    }

    func receivedStatus(_ status: Int, headers: HTTPHeaders) {
        record.withLock {
            if $0.result != nil { $0.callsAfterFinish += 1 }
            $0.status = status
            $0.headers = headers
        }
    }

    func receivedBody(_ bytes: UnsafeRawBufferPointer) {
        let copy = [UInt8](bytes)
        record.withLock {
            if $0.result != nil { $0.callsAfterFinish += 1 }
            $0.body += copy
            $0.bodyCallbacks += 1
        }
        onBody?(copy)
    }

    func finished(_ result: TransferResult) {
        let first = record.withLock { record -> Bool in
            if record.result != nil {
                record.callsAfterFinish += 1
                return false
            }
            record.result = result
            record.finishedAt = .now
            return true
        }
        if first { done.signal() }
    }

    /// Waits for `finished`; fails the test and returns nil on timeout.
    @discardableResult
    func waitForResult(timeout: Duration = .seconds(10), file: StaticString = #filePath, line: UInt = #line)
        -> TransferResult?
    {
        let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        guard done.wait(timeout: .now() + .milliseconds(Int(milliseconds))) == .success else {
            XCTFail("the transfer did not finish within \(timeout)", file: file, line: line)
            return nil
        }
        return record.current.result
    }

    var bodyText: String { String(decoding: record.current.body, as: UTF8.self) }
}

extension TransferResult {
    var info: TransferInfo? {
        if case .completed(let info) = self { return info }
        return nil
    }

    var error: TransferError? {
        if case .failed(let error) = self { return error }
        return nil
    }

    var isCancelled: Bool {
        if case .cancelled = self { return true }
        return false
    }
}

/// Runs a decoder over a recorded response, as the Complete call would.
func decode(
    _ record: RecordingHandler.Record,
    stream: Bool,
    accumulate: Bool = false
) -> [ChatResponseDecoder.Event] {
    var decoder = ChatResponseDecoder(stream: stream, accumulatesStreamContent: accumulate)
    var events: [ChatResponseDecoder.Event] = []
    if let status = record.status {
        decoder.receivedStatus(status, headers: record.headers)
    }
    decoder.receivedBody(record.body) { events.append($0) }
    if let result = record.result {
        decoder.finished(result) { events.append($0) }
    }
    return events
}

/// Tests never bootstrap logging: a logger that drops everything unless `PELLET_TEST_LOG` is set.
func makeTestLogger() -> Logger {
    var logger = Logger(label: "pellet.providers.tests") { label in
        if ProcessInfo.processInfo.environment["PELLET_TEST_LOG"] == nil {
            return SwiftLogNoOpLogHandler()
        }
        return StreamLogHandler.standardError(label: label)
    }
    logger.logLevel = Logger.Level.trace
    return logger
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}
