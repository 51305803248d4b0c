import Foundation
import PelletProviders
import XCTest

/// `unconsumedBodyLimit`: a handler whose consumer does not keep up holds a bounded backlog, and
/// gets every byte, in order, once it consumes.
final class UnconsumedBodyLimitTests: XCTestCase {
    private var engine: ProviderEngine!
    private var server: LoopbackHTTPServer!
    private static let limit = 64 << 10
    /// libcurl hands over at most `CURL_MAX_WRITE_SIZE` bytes at a time.
    private static let chunk = 16 << 10
    /// 2 MiB of numbered lines, so that a lost, repeated or reordered chunk shows.
    private static let body = (0..<(2 << 20) / 16).map { "line \($0)\n" }.joined()

    override func setUpWithError() throws {
        _ = Self.body  // made here, not in the server's route while a test is timing
        engine = try ProviderEngine(logger: makeTestLogger())
        server = try LoopbackHTTPServer { request, connection in
            connection.beginChunked()
            let bytes = Array(Self.body.utf8)
            for start in stride(from: 0, to: bytes.count, by: 8192) {
                connection.writeChunk(String(decoding: bytes[start..<min(start + 8192, bytes.count)], as: UTF8.self))
            }
            connection.endChunked()
        }
    }

    override func tearDown() {
        engine.shutdown()
        server.stop()
        (engine, server) = (nil, nil)
    }

    private func start(_ handler: RecordingHandler, idleTimeout: Duration? = nil) -> TransferHandle {
        var request = HTTPRequest(method: .get, url: server.baseURL + "/long", timeout: .seconds(20))
        request.idleTimeout = idleTimeout
        return engine.start(request, handler: handler, unconsumedBodyLimit: Self.limit)
    }

    /// Consumes what was handed over, every few milliseconds, until the transfer ends.
    private func consumeUntilFinished(_ handle: TransferHandle, _ handler: RecordingHandler) -> TransferResult? {
        let deadline = ContinuousClock.now + .seconds(20)
        while handler.record.current.result == nil, ContinuousClock.now < deadline {
            handle.consumed(handle.unconsumedBodyBytes)
            Thread.sleep(forTimeInterval: 0.002)
        }
        return handler.waitForResult()
    }

    func testABacklogThatIsNotConsumedStaysUnderTheLimitAndAllArrivesInOrderOnceConsumed() throws {
        let handler = RecordingHandler()
        let handle = start(handler)
        Thread.sleep(forTimeInterval: 0.3)
        let held = handler.record.current.body.count
        XCTAssertGreaterThan(held, 0)
        XCTAssertLessThan(held, Self.limit + Self.chunk, "the handler was given more than the limit")
        XCTAssertEqual(handle.unconsumedBodyBytes, held)
        XCTAssertNil(handler.record.current.result)

        XCTAssertEqual(try XCTUnwrap(consumeUntilFinished(handle, handler)).info?.status, 200)
        XCTAssertTrue(handler.bodyText == Self.body, "bytes were lost, repeated or reordered")
    }

    func testTheCallersPauseHoldsEvenWhenTheBacklogDrains() throws {
        let handler = RecordingHandler()
        let handle = start(handler)
        Thread.sleep(forTimeInterval: 0.2)
        handle.setPaused(true)
        Thread.sleep(forTimeInterval: 0.05)
        handle.consumed(handle.unconsumedBodyBytes)
        let heldWhilePaused = handler.record.current.body.count
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(handler.record.current.body.count, heldWhilePaused, "the drained backlog resumed a paused transfer")

        handle.setPaused(false)
        XCTAssertEqual(try XCTUnwrap(consumeUntilFinished(handle, handler)).info?.status, 200)
        XCTAssertTrue(handler.bodyText == Self.body)
    }

    func testTheIdleTimeoutEndsATransferWhoseBacklogIsNeverConsumed() throws {
        let handler = RecordingHandler()
        _ = start(handler, idleTimeout: .milliseconds(200))
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertEqual(result.error?.kind, .idleTimeout, "\(result)")
        XCTAssertLessThan(handler.record.current.body.count, Self.limit + Self.chunk)
    }
}
